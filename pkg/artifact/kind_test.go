package artifact

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestIngestKeepsNameKind: a new version may not change its name's kind (issue 10: a
// push of undionly.kpxe@99 as another kind became what every PXE ROM loaded); nothing
// of a refused ingest is left behind.
func TestIngestKeepsNameKind(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if _, err := s.Ingest(ctx, Meta{Name: "undionly.kpxe", Version: "1", Kind: KindBootloader}, strings.NewReader("ipxe"), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		meta Meta
		want error
	}{
		{"new version, other kind", Meta{Name: "undionly.kpxe", Version: "99", Kind: KindStage2}, ErrConflict},
		{"same version, other kind", Meta{Name: "undionly.kpxe", Version: "1", Kind: KindPackage}, ErrConflict},
		{"new version, same kind", Meta{Name: "undionly.kpxe", Version: "2", Kind: KindBootloader}, nil},
		{"new name, any kind", Meta{Name: "os", Version: "1", Kind: KindStage2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.List())
			_, err := s.Ingest(ctx, tt.meta, strings.NewReader("content of "+tt.meta.Version+tt.meta.Name), nil)
			if !errors.Is(err, tt.want) {
				t.Fatalf("want %v, got %v", tt.want, err)
			}
			if tt.want == nil {
				return
			}
			if !strings.Contains(err.Error(), "undionly.kpxe is a bootloader") {
				t.Fatalf("error does not say the name's kind: %v", err)
			}
			blobs, _ := filepath.Glob(filepath.Join(s.Dir(), blobsDir, "*", "*"))
			if len(s.List()) != before || len(blobs) != before {
				t.Fatalf("refused ingest left %d records, %d blobs; want %d", len(s.List()), len(blobs), before)
			}
		})
	}
	if a, _ := s.Resolve("undionly.kpxe"); a.Kind != KindBootloader || a.Version != "2" {
		t.Fatalf("bare name serves %+v", a)
	}
}
