// Package suggest finds, for a name nobody knows, the known name it was
// most likely meant to be: the one the fewest single-byte insertions,
// deletions and substitutions away. Configuration keys and flow log
// header fields use it to say "did you mean". It imports nothing of
// picket's.
package suggest

// Nearest returns the candidate closest to s and its distance, the first
// in the candidates' order on a tie ("" and -1 when there are none).
func Nearest(s string, candidates []string) (string, int) {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := Distance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD
}

// Distance is the Levenshtein distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
