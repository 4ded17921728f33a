// Package sortedkeys lists a map's keys in order, for code that walks a
// request's maps on every update.
//
// slices.Sorted(maps.Keys(m)) says the same, but it grows its slice through
// an iterator whose closures escape: three or more allocations per call,
// even for an empty map, which the hot path meets on almost every update
// (no vendor_ids, no extensions). BenchmarkOf shows the difference.
package sortedkeys

import "slices"

// Of returns m's keys in ascending order, or nil when m is empty.
func Of[V any](m map[string]V) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
