package tmplcache

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"text/template"
)

// counting returns a parse function and how many times it parsed.
func counting() (func(string) (*template.Template, error), *int) {
	n := new(int)
	return func(text string) (*template.Template, error) {
		*n++
		return template.New("t").Option("missingkey=error").Parse(text)
	}, n
}

func render(tm *template.Template) string {
	var b strings.Builder
	if err := tm.Execute(&b, map[string]string{"X": "x"}); err != nil {
		return "error: " + err.Error()
	}
	return b.String()
}

func TestGet(t *testing.T) {
	tests := []struct {
		name      string
		texts     []string // fetched in order
		want      string   // the last one's output ("" when it must fail)
		wantParse int      // parses after New
		wantKept  int
	}{
		{"default for empty", []string{""}, "default", 0, 0},
		{"parsed once", []string{"a{{.X}}", "a{{.X}}", "a{{.X}}"}, "ax", 1, 1},
		{"distinct texts", []string{"a{{.X}}", "b{{.X}}"}, "bx", 2, 2},
		{"a bad text is not kept", []string{"{{.X", "{{.X"}, "", 2, 0},
		{"bounded: full cache is dropped", []string{"1", "2", "3", "4"}, "4", 4, 1},
		{"after the drop a text is parsed again", []string{"1", "2", "3", "4", "1"}, "1", 5, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse, n := counting()
			c, err := New(parse, "default", 3)
			if err != nil {
				t.Fatal(err)
			}
			*n = 0
			var tm *template.Template
			for _, text := range tt.texts {
				tm, err = c.Get(text)
			}
			if tt.want == "" {
				if err == nil {
					t.Fatal("bad text parsed")
				}
			} else if err != nil || render(tm) != tt.want {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			if *n != tt.wantParse || len(c.byTxt) != tt.wantKept {
				t.Fatalf("%d parses, %d kept; want %d, %d", *n, len(c.byTxt), tt.wantParse, tt.wantKept)
			}
		})
	}
}

func TestNewRefusesBadDefault(t *testing.T) {
	parse, _ := counting()
	if _, err := New(parse, "{{", 3); err == nil || !strings.Contains(err.Error(), "default template") {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentGet(t *testing.T) {
	c, err := New(func(s string) (*template.Template, error) { return template.New("t").Parse(s) }, "d", 4)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				text := fmt.Sprintf("t%d", (i+j)%6)
				tm, err := c.Get(text)
				if err != nil || render(tm) != text {
					t.Errorf("Get(%q): %v", text, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
