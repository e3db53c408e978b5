package docs

import (
	"regexp"
	"strings"
)

// block is one fenced code block of a Markdown page.
type block struct {
	lang string
	body string
	line int    // line of the opening fence, 1-based
	skip string // the reason of a docs-test skip marker before it, if any
}

var skipRE = regexp.MustCompile(`^<!--\s*docs-test:\s*skip:\s*(.*?)\s*-->$`)

// blocks returns the fenced code blocks of md in order.
func blocks(md string) []block {
	var out []block
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "```") {
			continue
		}
		b := block{lang: strings.TrimSpace(strings.TrimPrefix(l, "```")), line: i + 1}
		if i > 0 {
			if m := skipRE.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				b.skip = m[1]
			}
		}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		b.body = strings.Join(body, "\n")
		out = append(out, b)
	}
	return out
}

var heredocRE = regexp.MustCompile(`<<-?\s*['"]?([A-Za-z_][A-Za-z0-9_]*)['"]?`)

// commands splits a shell block into the commands a user would type one at a time: a
// line, with its `\` continuations, its here-document, or its whole for/while/if.
func commands(body string) []string {
	var out, cur []string
	heredoc, depth := "", 0
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, l := range strings.Split(body, "\n") {
		if heredoc != "" {
			cur = append(cur, l)
			if strings.TrimSpace(l) == heredoc {
				heredoc = ""
				if depth == 0 {
					flush()
				}
			}
			continue
		}
		code := stripComment(l)
		if len(cur) == 0 && strings.TrimSpace(code) == "" {
			continue
		}
		cur = append(cur, l)
		depth += nesting(code)
		if m := heredocRE.FindStringSubmatch(code); m != nil {
			heredoc = m[1]
			continue
		}
		if strings.HasSuffix(strings.TrimSpace(code), `\`) || depth > 0 {
			continue
		}
		flush()
	}
	flush()
	return out
}

// stripComment drops a trailing shell comment (a # at the start of a word, outside
// quotes).
func stripComment(l string) string {
	var quote rune
	for i, r := range l {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || l[i-1] == ' ' || l[i-1] == '\t'):
			return l[:i]
		}
	}
	return l
}

// nesting is how many compound commands a line opens minus how many it closes.
func nesting(code string) int {
	n := 0
	f := strings.Fields(strings.NewReplacer(";", " ; ").Replace(code))
	for i, w := range f {
		start := i == 0 || f[i-1] == ";" || f[i-1] == "&&" || f[i-1] == "||"
		switch {
		case start && (w == "for" || w == "while" || w == "until" || w == "if" || w == "case"):
			n++
		case start && (w == "done" || w == "fi" || w == "esac"):
			n--
		}
	}
	return n
}
