package adapters

import "unicode/utf8"

// Truncate bounds text a vendor sent (a message kept in an error) to max
// bytes plus "..." when cut. It cuts on a rune boundary, so a multi-byte
// character is never split into invalid UTF-8 (which JSON encoders would
// turn into U+FFFD).
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
