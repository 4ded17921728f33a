// Package simlog keeps the vendor simulators' request logs bounded: a
// simulator under a long run (gateway dev, gateway sim behind a load test)
// keeps its latest requests instead of every request it ever received, so
// its memory and garbage-collection cost stay flat.
package simlog

// Limit is how many requests a simulator's log keeps.
const Limit = 50_000

// Append adds r to log, first dropping the oldest tenth when log is full.
func Append[T any](log []T, r T) []T {
	if len(log) >= Limit {
		n := copy(log, log[Limit/10:])
		clear(log[n:]) // let the dropped entries be collected
		log = log[:n]
	}
	return append(log, r)
}
