package main

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"github.com/podboot/podboot/pkg/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/a","Test":"TestOK","Output":"    a_test.go:9: chatter\n"}`,
		`{"Action":"pass","Package":"github.com/podboot/podboot/pkg/a","Test":"TestOK","Elapsed":1.234}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/a","Test":"TestBad/sub","Output":"    a_test.go:20: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"github.com/podboot/podboot/pkg/a","Test":"TestBad/sub","Elapsed":0.5}`,
		`{"Action":"fail","Package":"github.com/podboot/podboot/pkg/a","Test":"TestBad","Elapsed":0.5}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/a","Test":"TestRoot","Output":"    netns.go:27: SKIPPING TestRoot: needs root\n"}`,
		`{"Action":"skip","Package":"github.com/podboot/podboot/pkg/a","Test":"TestRoot","Elapsed":0}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/a","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/a","Output":"FAIL\tgithub.com/podboot/podboot/pkg/a\t1.9s\n"}`,
		`{"Action":"fail","Package":"github.com/podboot/podboot/pkg/a","Elapsed":1.9}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/b","Output":"PASS\n"}`,
		`{"Action":"output","Package":"github.com/podboot/podboot/pkg/b","Output":"ok  \tgithub.com/podboot/podboot/pkg/b\t0.1s\n"}`,
		`not json: a vet line`,
	}, "\n")
	var b strings.Builder
	failed, err := format(strings.NewReader(in), &b)
	if err != nil || !failed {
		t.Fatalf("format: failed=%v err=%v", failed, err)
	}
	got := b.String()
	for _, want := range []string{
		"PASS pkg/a TestOK (1.23s)\n",
		"FAIL pkg/a TestBad/sub (500ms)\n    a_test.go:20: got 1, want 2\n",
		"SKIP pkg/a TestRoot (0s)\n    netns.go:27: SKIPPING TestRoot: needs root\n",
		"FAIL\tgithub.com/podboot/podboot/pkg/a\t1.9s\n",
		"ok  \tgithub.com/podboot/podboot/pkg/b\t0.1s\n",
		"not json: a vet line\n",
		"tests: 1 passed, 2 failed, 1 skipped: FAILED\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "chatter") || strings.Contains(got, "=== RUN") || strings.Contains(got, "\nPASS\n") {
		t.Errorf("log carries a passing test's output or go test's markers:\n%s", got)
	}
}
