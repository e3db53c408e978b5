package replica

import (
	"encoding/json"
	"fmt"
	"time"
)

// Member is one live replica as its member record says (PREFIX/members/NAME).
type Member struct {
	Name      string    `json:"name"`
	Advertise Advertise `json:"advertise"`
	// Started is when the replica's current session began.
	Started time.Time `json:"started"`
	// Lease is the etcd lease ID of the session, which the record and the replica's
	// owner keys are bound to.
	Lease int64 `json:"lease"`
}

func (m Member) encode() []byte {
	b, _ := json.Marshal(m) // plain struct: cannot fail
	return b
}

func decodeMember(b []byte) (Member, error) {
	var m Member
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("member record: %w", err)
	}
	return m, nil
}
