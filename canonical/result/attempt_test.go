package result

import (
	"encoding/json"
	"testing"
)

// TestAttemptStatusJSON: a status is a number, a transport outcome a
// string, and records stored with the former integer-only list (0 = no
// answer) still read.
func TestAttemptStatusJSON(t *testing.T) {
	in := []AttemptStatus{{Status: 503}, {Outcome: "timeout"}, {Status: 200}}
	b, err := json.Marshal(in)
	if err != nil || string(b) != `[503,"timeout",200]` {
		t.Fatalf("%s %v", b, err)
	}
	var back []AttemptStatus
	if err := json.Unmarshal(b, &back); err != nil || len(back) != 3 || back[1] != in[1] || back[2] != in[2] {
		t.Fatalf("%+v %v", back, err)
	}
	var old []AttemptStatus
	if err := json.Unmarshal([]byte(`[0,200]`), &old); err != nil || old[0].Outcome != "error" || old[1].Status != 200 {
		t.Fatalf("%+v %v", old, err)
	}
	if err := json.Unmarshal([]byte(`[true]`), &old); err == nil {
		t.Error("a boolean was taken")
	}
}
