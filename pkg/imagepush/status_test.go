package imagepush

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/podboot/podboot/pkg/artifact"
	"github.com/podboot/podboot/pkg/imagesign"
)

func TestClassify(t *testing.T) {
	ingest := func(err error) error { return fmt.Errorf("ingest a@1: receive content: %w", err) }
	tests := []struct {
		name   string
		err    error
		status int
		reason imagesign.Reason
		msg    string
	}{
		{"refused signature", fmt.Errorf("ingest: %w: %w", artifact.ErrRejected, &imagesign.VerifyError{Reason: imagesign.ReasonDigestMismatch}), 422, imagesign.ReasonDigestMismatch, "digest mismatch"},
		{"declared digest differs", fmt.Errorf("ingest: %w: %w", artifact.ErrRejected, statusErr(400, errors.New("differs"))), 400, "", "differs"},
		{"too large", ingest(&http.MaxBytesError{Limit: 10}), 413, "", "larger than 10 bytes"},
		{"conflict", fmt.Errorf("%w: exists", artifact.ErrConflict), 409, "", "exists"},
		{"invalid", fmt.Errorf("%w: bad", artifact.ErrInvalid), 400, "", "bad"},
		{"disk full", ingest(&os.PathError{Op: "write", Path: "/data/artifacts/tmp/ingest-1", Err: syscall.ENOSPC}), 507, "", "out of disk space"},
		{"quota", ingest(&os.PathError{Op: "write", Path: "x", Err: syscall.EDQUOT}), 507, "", "out of disk space"},
		{"client gone", ingest(io.ErrUnexpectedEOF), 400, "", "ended before"},
		{"other", ingest(errors.New("EIO on /secret/path")), 500, "", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, r, msg := classify(tt.err)
			if st != tt.status || r != tt.reason || !strings.Contains(msg, tt.msg) {
				t.Fatalf("classify = %d %q %q, want %d %q containing %q", st, r, msg, tt.status, tt.reason, tt.msg)
			}
			if st == 500 && strings.Contains(msg, "/secret") {
				t.Fatal("a server fault leaked its detail to the client")
			}
		})
	}
}
