package blobsync

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/podboot/podboot/pkg/artifact"
)

// Record states: a pending record is being copied to enough replicas and is not served.
const (
	statePending = "pending"
	stateReady   = "ready"
)

// record is the catalog entry of one artifact version.
type record struct {
	artifact.Artifact
	State string `json:"state"`
	// Origin is the replica that published it.
	Origin string `json:"origin"`
}

// digests are the blobs a record needs: the signature first, so a replica holding the
// content always holds the signature too.
func (r record) digests() []string {
	if r.SignatureDigest != "" {
		return []string{r.SignatureDigest, r.Digest}
	}
	return []string{r.Digest}
}

// peer is a replica's entry: where its API is and what signed its certificate.
type peer struct {
	ID     string `json:"id"`
	APIURL string `json:"apiURL"`
	// CAPEM verifies the peer's API certificate; empty means the system roots.
	CAPEM string `json:"caPEM,omitempty"`
}

type keys struct{ prefix string }

func (k keys) records() string              { return k.prefix + "artifacts/" }
func (k keys) record(ref string) string     { return k.records() + ref }
func (k keys) holders(digest string) string { return k.prefix + "artifact-holders/" + digest + "/" }
func (k keys) holder(digest, id string) string {
	return k.holders(digest) + id
}
func (k keys) allHolders() string      { return k.prefix + "artifact-holders/" }
func (k keys) peers() string           { return k.prefix + "artifact-replicas/" }
func (k keys) peer(id string) string   { return k.peers() + id }
func (k keys) refOf(key string) string { return strings.TrimPrefix(key, k.records()) }

// holderOf splits a holder key into digest and replica ID.
func (k keys) holderOf(key string) (digest, id string, ok bool) {
	return strings.Cut(strings.TrimPrefix(key, k.allHolders()), "/")
}

func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, fmt.Errorf("decode artifact record: %w", err)
	}
	if r.State != statePending && r.State != stateReady {
		return record{}, fmt.Errorf("decode artifact record %s: unknown state %q", r.Ref(), r.State)
	}
	return r, nil
}

func encode(v any) string {
	b, _ := json.Marshal(v) // records and peers always encode
	return string(b)
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
