package testutil

// InOrder reports whether want is a subsequence of got (event actions in a host's
// timeline, with others in between).
func InOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
