package canonical

import (
	"regexp"
	"strings"
	"testing"
)

// targetNameRe is the rule ValidTargetName implements by hand: the oracle
// its tests hold it to.
var targetNameRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

func TestValidTargetName(t *testing.T) {
	cases := []struct {
		name string
		want bool
	}{
		{"frontier", true},
		{"a", true},
		{"akana-eu_2", true},
		{"z" + strings.Repeat("9", 62), true},
		{"z" + strings.Repeat("9", 63), false},
		{"", false},
		{"Frontier", false},
		{"1frontier", false},
		{"-frontier", false},
		{"_frontier", false},
		{"front ier", false},
		{"frontier\n", false},
		{"front.ier", false},
		{"frontiér", false},
		{"frontier\x00", false},
		{"fr/ontier", false},
	}
	for _, c := range cases {
		if got := ValidTargetName(c.name); got != c.want {
			t.Errorf("ValidTargetName(%q) = %v, want %v", c.name, got, c.want)
		}
		if re := targetNameRe.MatchString(c.name); re != c.want {
			t.Errorf("the regexp says %v for %q: the table is wrong", re, c.name)
		}
	}
	// Every single byte, first and later, against the regexp.
	for b := range 256 {
		for _, s := range []string{string([]byte{byte(b)}), "a" + string([]byte{byte(b)}), "a" + string([]byte{byte(b)}) + "b"} {
			if got, want := ValidTargetName(s), targetNameRe.MatchString(s); got != want {
				t.Errorf("ValidTargetName(%q) = %v, the regexp says %v", s, got, want)
			}
		}
	}
}

func FuzzValidTargetName(f *testing.F) {
	for _, s := range []string{"frontier", "", "A", "a-b_c9", strings.Repeat("a", 64), "a\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTargetName(s), targetNameRe.MatchString(s); got != want {
			t.Fatalf("ValidTargetName(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}

// BenchmarkValidTargetName compares the byte loop with the regexp it
// replaced, on the names an update carries.
func BenchmarkValidTargetName(b *testing.B) {
	names := []string{"volterra", "akana", "commvault", "frontier"}
	b.Run("loop", func(b *testing.B) {
		for b.Loop() {
			for _, n := range names {
				if !ValidTargetName(n) {
					b.Fatal(n)
				}
			}
		}
	})
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			for _, n := range names {
				if !targetNameRe.MatchString(n) {
					b.Fatal(n)
				}
			}
		}
	})
}
