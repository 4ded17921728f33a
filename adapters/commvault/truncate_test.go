package commvault

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A Commvault message cut at its 300-byte bound keeps valid UTF-8 (the old
// byte cut split a multi-byte character).
func TestTruncateKeepsCharacters(t *testing.T) {
	got := truncate(strings.Repeat("a", 299) + "é and more")
	if !utf8.ValidString(got) || got != strings.Repeat("a", 299)+"..." {
		t.Errorf("truncate = %q", got)
	}
}
