package simlog

import "testing"

func TestAppendKeepsTheLatest(t *testing.T) {
	var log []int
	for i := 0; i < 3*Limit+7; i++ {
		log = Append(log, i)
		if len(log) > Limit {
			t.Fatalf("log holds %d entries", len(log))
		}
	}
	last := 3*Limit + 6
	if log[len(log)-1] != last {
		t.Fatalf("newest entry %d, want %d", log[len(log)-1], last)
	}
	for i := 1; i < len(log); i++ {
		if log[i] != log[i-1]+1 {
			t.Fatalf("entries out of order at %d: %d after %d", i, log[i], log[i-1])
		}
	}
	if len(log) < Limit*9/10 {
		t.Fatalf("kept only %d entries", len(log))
	}
}
