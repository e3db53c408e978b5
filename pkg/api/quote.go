package api

import (
	"fmt"
	"strings"
)

// maxQuote is how much of a client's input an error message repeats.
const maxQuote = 64

// Quote quotes client input for an error message, cut after maxQuote bytes (then "…"):
// an answer never echoes a large value back.
func Quote(s string) string {
	if len(s) <= maxQuote {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuote
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q…", s[:cut])
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// clipQuoted cuts every double-quoted run in an error message (a value a validator
// quoted with %q) after maxQuote bytes, so that no error repeats a long input, whoever
// wrote the message.
func clipQuoted(msg string) string {
	var b strings.Builder
	for {
		open := strings.IndexByte(msg, '"')
		if open < 0 {
			b.WriteString(msg)
			return b.String()
		}
		end := closingQuote(msg, open+1)
		if end < 0 {
			b.WriteString(msg)
			return b.String()
		}
		inner := msg[open+1 : end]
		b.WriteString(msg[:open+1])
		if len(inner) > maxQuote {
			cut := maxQuote
			for cut > 0 && (!isRuneStart(inner[cut]) || inner[cut-1] == '\\') {
				cut--
			}
			b.WriteString(inner[:cut])
			b.WriteString(`"…`)
		} else {
			b.WriteString(inner)
			b.WriteByte('"')
		}
		msg = msg[end+1:]
	}
}

// closingQuote finds the quote that ends a quoted run starting at i, skipping escapes.
func closingQuote(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}
