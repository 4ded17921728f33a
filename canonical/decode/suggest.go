package decode

import "strings"

// Suggest returns the candidate closest to name by edit distance (ignoring
// case), or "" when none is close enough to be a likely typo: at most a
// third of the candidate's length, and at least 1. Called only on the error
// path, so its allocations never touch a valid request.
func Suggest(name string, candidates []string) string {
	if name == "" {
		return ""
	}
	lower := strings.ToLower(name)
	best, bestD := "", -1
	for _, c := range candidates {
		d := editDistance(lower, strings.ToLower(c))
		if d <= max(1, len(c)/3) && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance of a and b, in
// bytes: Levenshtein plus a swap of two neighbours as one edit ("emial").
func editDistance(a, b string) int {
	// Three rows: the one before last is needed for swaps.
	pp := make([]int, len(b)+1)
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
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		pp, prev, cur = prev, cur, pp
	}
	return prev[len(b)]
}

// didYouMean is the unknown-field message: "unknown field", plus the nearest
// known name as a full path when one is close.
func didYouMean(parent, key string, known []string) string {
	if s := Suggest(key, known); s != "" {
		return "unknown field; did you mean " + join(parent, s) + "?"
	}
	return "unknown field"
}
