package adapters

import (
	"net/http"
	"testing"
	"time"
)

// TestParseRetryAfter: both RFC 9110 forms, capped at the limit, and never
// negative: 9999999999 seconds used to overflow into -2346317h.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	for _, tc := range []struct {
		in    string
		limit time.Duration
		want  time.Duration
	}{
		{"", 5 * time.Second, 0},
		{"0", 5 * time.Second, 0},
		{"3", 5 * time.Second, 3 * time.Second},
		{" 3 ", 5 * time.Second, 3 * time.Second},
		{"5", 5 * time.Second, 5 * time.Second},
		{"6", 5 * time.Second, 5 * time.Second},
		{"120", time.Minute, time.Minute},
		{"9999999999", 5 * time.Second, 5 * time.Second},
		{"9999999999", 0, DefaultMaxRetryAfter},
		{"99999999999999999999999", 5 * time.Second, 5 * time.Second},
		{"9223372036", 5 * time.Second, 5 * time.Second},
		{"-1", 5 * time.Second, 0},
		{"+3", 5 * time.Second, 0},
		{"0x10", 5 * time.Second, 0},
		{"1.5", 5 * time.Second, 0},
		{"soon", 5 * time.Second, 0},
		{date(2 * time.Second), 5 * time.Second, 2 * time.Second},
		{date(time.Hour), 5 * time.Second, 5 * time.Second},
		{date(-time.Hour), 5 * time.Second, 0},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 5 * time.Second, 5 * time.Second},
		{"Mon, 01 Jan 0001 00:00:00 GMT", 5 * time.Second, 0},
		{now.Add(3 * time.Second).Format(time.RFC850), 5 * time.Second, 3 * time.Second},
	} {
		if got := ParseRetryAfter(tc.in, now, tc.limit); got != tc.want {
			t.Errorf("ParseRetryAfter(%q, limit %s) = %s, want %s", tc.in, tc.limit, got, tc.want)
		}
	}
}

// FuzzParseRetryAfter: whatever a vendor sends, the wait is within
// [0, limit].
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "5", "9999999999", "18446744073709551616", "-1", "Fri, 31 Dec 9999 23:59:59 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"} {
		f.Add(s, int64(5*time.Second))
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string, limit int64) {
		l := time.Duration(limit)
		got := ParseRetryAfter(v, now, l)
		if l <= 0 {
			l = DefaultMaxRetryAfter
		}
		if got < 0 || got > l {
			t.Fatalf("ParseRetryAfter(%q, %s) = %s, outside [0, %s]", v, l, got, l)
		}
	})
}
