package dispatch

import (
	"testing"
	"time"

	"github.com/identity-gateway/identity-gateway/canonical/result"
	"github.com/identity-gateway/identity-gateway/internal/idempotency"
)

func TestExpectation(t *testing.T) {
	var nilE *expectation
	nilE.observe(time.Second) // a target made without New: no estimate, no panic
	if nilE.expected() != 0 {
		t.Fatal("nil expectation")
	}
	e := new(expectation)
	if e.expected() != 0 {
		t.Fatalf("before any run: %s", e.expected())
	}
	e.observe(800 * time.Microsecond)
	if e.expected() != 800*time.Microsecond {
		t.Fatalf("first run: %s, want it as is", e.expected())
	}
	e.observe(1600 * time.Microsecond) // 800 + (1600-800)/8
	if e.expected() != 900*time.Microsecond {
		t.Fatalf("second run: %s, want 900µs", e.expected())
	}
	for range 100 {
		e.observe(100 * time.Microsecond)
	}
	if got := e.expected(); got < 100*time.Microsecond || got > 101*time.Microsecond {
		t.Fatalf("after a long run of 100µs: %s", got)
	}
	z := new(expectation)
	z.observe(0) // a run too quick for the clock still counts as seen
	if z.expected() <= 0 {
		t.Fatalf("zero run: %s", z.expected())
	}
}

func TestPickRunsTheLongestTargetInline(t *testing.T) {
	target := func(name string, took time.Duration) *Target {
		tg := &Target{Name: name, took: new(expectation)}
		if took > 0 {
			tg.took.observe(took)
		}
		return tg
	}
	prior := &idempotency.Ticket{Prior: map[string]result.Target{"done": {Status: result.StatusApplied}}}
	cases := []struct {
		name          string
		plans         []plan
		ticket        *idempotency.Ticket
		running, want int
	}{
		{"no estimates yet: the last", []plan{{target: target("a", 0)}, {target: target("b", 0)}, {target: target("c", 0)}}, nil, 3, 2},
		{"the longest", []plan{{target: target("a", 300*time.Microsecond)}, {target: target("b", 800*time.Microsecond)}, {target: target("c", 400*time.Microsecond)}}, nil, 3, 1},
		{"equals: the last of them", []plan{{target: target("a", time.Millisecond)}, {target: target("b", time.Millisecond)}, {target: target("c", 0)}}, nil, 3, 1},
		{"skipped and recorded ones do not run", []plan{{target: target("a", time.Millisecond), skip: true}, {target: target("b", 100*time.Microsecond)}, {target: target("done", time.Second)}}, prior, 1, 1},
		{"none runs", []plan{{target: target("a", 0), skip: true}}, nil, 0, -1},
		{"a target made without New", []plan{{target: &Target{Name: "x"}}, {target: target("b", time.Millisecond)}}, nil, 2, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			running, inline := pick(tc.plans, tc.ticket)
			if running != tc.running || inline != tc.want {
				t.Errorf("pick = %d running, inline %d; want %d, %d", running, inline, tc.running, tc.want)
			}
		})
	}
}
