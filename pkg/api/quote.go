package api

import "fmt"

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
