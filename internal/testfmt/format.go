package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// format reads go test's JSON events from r and writes the log to w; it reports whether
// anything failed. Lines that are not JSON (go vet's or the build's own output) pass
// through.
func format(r io.Reader, w io.Writer) (bool, error) {
	out := map[string]*strings.Builder{} // per package and test
	var passed, failed, skipped int
	var anyFail bool
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output)
		case e.Action == "build-fail":
			anyFail = true
		case e.Test == "":
			if e.Action == "fail" {
				anyFail = true
			}
			// The package's own lines: ok/FAIL with its time, panics, TestMain output.
			if e.Action == "output" && strings.TrimSpace(e.Output) != "PASS" {
				fmt.Fprint(w, e.Output)
			}
		case e.Action == "output":
			if strings.HasPrefix(e.Output, "=== ") {
				continue // RUN/PAUSE/CONT/NAME markers
			}
			b := out[key]
			if b == nil {
				b = &strings.Builder{}
				out[key] = b
			}
			b.WriteString(e.Output)
		case e.Action == "pass" || e.Action == "fail" || e.Action == "skip":
			d := time.Duration(e.Elapsed * float64(time.Second)).Round(10 * time.Millisecond)
			fmt.Fprintf(w, "%-4s %s %s (%s)\n", strings.ToUpper(e.Action), shortPkg(e.Package), e.Test, d)
			text := ""
			if b := out[key]; b != nil {
				text = b.String()
			}
			switch e.Action {
			case "pass":
				passed++
			case "skip":
				skipped++
				writeIndented(w, lastLines(text, 3))
			case "fail":
				failed++
				anyFail = true
				writeIndented(w, text)
			}
			delete(out, key)
		}
	}
	if err := sc.Err(); err != nil {
		return true, fmt.Errorf("read go test -json: %w", err)
	}
	verdict := "all passed"
	if anyFail {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "tests: %d passed, %d failed, %d skipped: %s\n", passed, failed, skipped, verdict)
	return anyFail, nil
}

// shortPkg drops the module path: the log names packages as the tree does.
func shortPkg(p string) string {
	return strings.TrimPrefix(strings.TrimPrefix(p, "github.com/podboot/podboot"), "/")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--- SKIP") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

func writeIndented(w io.Writer, s string) {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return
	}
	for _, l := range strings.Split(s, "\n") {
		fmt.Fprintf(w, "    %s\n", strings.TrimLeft(l, " "))
	}
}
