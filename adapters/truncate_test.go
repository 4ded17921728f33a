package adapters

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefghij..."},
		{"aaaaaaaaé", 9, "aaaaaaaa..."}, // é is 2 bytes straddling the limit
		{"€€€€", 10, "€€€..."},          // 3-byte runes
		{"😀😀", 5, "😀..."},               // a 4-byte rune
		{"", 0, ""},
	}
	for _, tc := range cases {
		got := Truncate(tc.in, tc.max)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if cut := strings.TrimSuffix(got, "..."); len(cut) > tc.max {
			t.Errorf("Truncate(%q, %d) kept %d bytes", tc.in, tc.max, len(cut))
		}
	}
}
