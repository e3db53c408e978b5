package blobsync

import (
	"testing"

	"github.com/podboot/podboot/pkg/artifact"
)

// FuzzDecodeRecord: a catalog record from etcd (written by any replica, or by hand)
// decodes or fails cleanly, never panics, and what decodes has a known state and
// encodes back to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(encode(record{Artifact: artifact.Artifact{Name: "vmlinuz", Version: "1", Kind: artifact.KindKernel,
		Digest: "f3dba36aeb7bdeea2734561a9618619d43236986315fe91d82d6e648e607f362"}, State: stateReady, Origin: "a"})))
	f.Add([]byte(`{"state":"pending"}`))
	f.Add([]byte(`{"state":"gone"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if r.State != statePending && r.State != stateReady {
			t.Fatalf("decoded state %q", r.State)
		}
		again, err := decodeRecord([]byte(encode(r)))
		if err != nil || again.Ref() != r.Ref() || again.Digest != r.Digest || again.State != r.State {
			t.Fatalf("round trip: %+v -> %+v (%v)", r, again, err)
		}
	})
}
