package imagepush

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	clock := time.Unix(1000, 0)
	p := NewProgress(strings.NewReader(strings.Repeat("x", 3<<20)), &out, "uploading", 3<<20)
	p.start, p.now = clock, func() time.Time { clock = clock.Add(time.Second); return clock }
	if _, err := io.Copy(io.Discard, p); err != nil {
		t.Fatal(err)
	}
	p.Done()
	last := out.String()[strings.LastIndex(out.String(), "\r")+1:]
	for _, want := range []string{"uploading [##############################] 100.0%", "3.0 MiB / 3.0 MiB"} {
		if !strings.Contains(last, want) {
			t.Errorf("final line %q lacks %q", last, want)
		}
	}
	if !strings.HasSuffix(out.String(), "\n") {
		t.Error("Done did not end the line")
	}
}

func TestHuman(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 4 << 30: "4.0 GiB"} {
		if got := human(n); got != want {
			t.Errorf("human(%d) = %q, want %q", n, got, want)
		}
	}
}
