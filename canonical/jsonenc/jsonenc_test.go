package jsonenc

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func check(t testing.TB, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Fatalf("AppendString(%q) = %s, want x%s", s, got, want)
	}
}

// TestAppendStringMatchesMarshal: every byte alone (invalid UTF-8 above
// 0x7f), every rune of the Basic Multilingual Plane, a few beyond it, and
// mixtures, against json.Marshal.
func TestAppendStringMatchesMarshal(t *testing.T) {
	for c := 0; c < 256; c++ {
		check(t, string([]byte{byte(c)}))
		check(t, "a"+string([]byte{byte(c)})+"b")
	}
	for r := rune(0); r < 0x10000; r++ {
		if utf8.ValidRune(r) {
			check(t, string(r))
		}
	}
	for _, s := range []string{"", "plain", `"quoted" \back\slash`, "<script>&amp;</script>", "line\u2028sep\u2029para",
		"tab\tnew\nret\rbell\a\x00\x1f\x7f", "é中文😀", "\xff\xfe", "a\xc3", strings.Repeat("x<", 100), "\U0010FFFF"} {
		check(t, s)
	}
}

func TestSortedKeys(t *testing.T) {
	m := map[string]int{"b": 1, "a": 2, "\xff": 3, "A": 4, "ab": 5}
	var buf [2]string
	got := SortedKeys(m, buf[:0])
	want := []string{"A", "a", "ab", "b", "\xff"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("SortedKeys = %q, want %q", got, want)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "<&>", "\u2028", "\xff", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}

func TestAppendObject(t *testing.T) {
	str := func(b []byte, v string) ([]byte, error) { return AppendString(b, v), nil }
	for _, m := range []map[string]string{{}, {"a": "1"}, {"b": "<", "a": "&", "\xff": "x", "A": "\u2028"},
		{"k1": "", "k2": "", "k3": "", "k4": "", "k5": "", "k6": "", "k7": "", "k8": "", "k9": "", "k10": ""}} {
		want, _ := json.Marshal(m)
		got, err := AppendObject([]byte("x"), m, str)
		if err != nil || string(got) != "x"+string(want) {
			t.Errorf("AppendObject(%q) = %s, %v; want x%s", m, got, err, want)
		}
	}
	boom := errors.New("boom")
	got, err := AppendObject([]byte("x"), map[string]string{"a": "1"}, func(b []byte, _ string) ([]byte, error) { return append(b, "partial"...), boom })
	if !errors.Is(err, boom) || string(got) != "x" {
		t.Errorf("on error: %q, %v; want the input back and the error", got, err)
	}
}
