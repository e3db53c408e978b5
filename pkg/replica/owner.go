package replica

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// ownerRecord is the value of PREFIX/owners/POD: who answers for the pod, under which
// session. The key is bound to that session's lease.
type ownerRecord struct {
	Replica string `json:"replica"`
	Lease   int64  `json:"lease"`
}

func (o ownerRecord) encode() []byte {
	b, _ := json.Marshal(o) // plain struct: cannot fail
	return b
}

func decodeOwner(b []byte) (ownerRecord, error) {
	var o ownerRecord
	if err := json.Unmarshal(b, &o); err != nil {
		return o, fmt.Errorf("owner record: %w", err)
	}
	return o, nil
}

// OwnerKey is the key that says which replica owns pod.
func OwnerKey(prefix, pod string) string { return prefix + "owners/" + pod }

// Rendezvous picks pod's replica among names: the one with the highest hash of
// (name, pod). Adding or removing a replica moves only the pods that replica gains or
// had. "" when names is empty.
func Rendezvous(pod string, names []string) string {
	var best string
	var bestScore uint64
	for _, n := range names {
		h := sha256.Sum256([]byte(n + "\x00" + pod))
		s := binary.BigEndian.Uint64(h[:8])
		if best == "" || s > bestScore || (s == bestScore && n < best) {
			best, bestScore = n, s
		}
	}
	return best
}
