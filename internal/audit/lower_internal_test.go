package audit

import (
	"strings"
	"testing"
)

// TestLowerTrimmed: the bytes hashed for a personal value are
// strings.ToLower(strings.TrimSpace(v)), on the ASCII path and off it.
func TestLowerTrimmed(t *testing.T) {
	for _, v := range []string{"", " ", "Jane@Example.COM", "  jane@example.com\t\n", "ÉLODIE@example.com", "straße",
		"\u0130stanbul", "a\xffB", strings.Repeat("A", lowerBuf), strings.Repeat("A", lowerBuf+1), " " + strings.Repeat("Z", lowerBuf) + " "} {
		var buf [lowerBuf]byte
		if got, want := string(lowerTrimmed(&buf, v)), strings.ToLower(strings.TrimSpace(v)); got != want {
			t.Errorf("lowerTrimmed(%q) = %q, want %q", v, got, want)
		}
	}
}

func FuzzLowerTrimmed(f *testing.F) {
	for _, v := range []string{"Jane@Example.com", " x ", "ÉLODIE", "a\xffB"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var buf [lowerBuf]byte
		if got, want := string(lowerTrimmed(&buf, v)), strings.ToLower(strings.TrimSpace(v)); got != want {
			t.Fatalf("lowerTrimmed(%q) = %q, want %q", v, got, want)
		}
	})
}
