package scim

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseFilter: Entra's value-path comparison (emails[type eq
// "work"].value eq "x", outside RFC 7644's grammar) parses as the RFC form
// and is answered from the e-mail index; RFC filters are unchanged.
func TestParseFilter(t *testing.T) {
	user := map[string]any{"userName": "Ada", "emails": []any{
		map[string]any{"type": "home", "value": "ada@home.example"},
		map[string]any{"type": "work", "value": "ada@work.example", "primary": true},
	}}
	for _, tc := range []struct {
		name, filter string
		index        []index
		indexed      bool
		match        bool
	}{
		{"Entra work e-mail", `emails[type eq "work"].value eq "ADA@work.example"`, []index{{"email", "ADA@work.example"}}, true, true},
		{"Entra form, other type", `emails[type eq "home"].value eq "ada@work.example"`, []index{{"email", "ada@work.example"}}, true, false},
		{"Entra form inside and", `userName eq "ada" and emails[type eq "work"].value co "work"`, []index{{"userName", "ada"}}, true, true},
		{"RFC value path", `emails[type eq "work" and value eq "ada@work.example"]`, []index{{"email", "ada@work.example"}}, true, true},
		{"quoted bracket in a value is left alone", `userName eq "a[b].c eq d"`, []index{{"userName", "a[b].c eq d"}}, true, false},
		{"not indexed", `emails[type eq "work"].value sw "ada"`, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := parseFilter(tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			idx, ok := indexed(e)
			if ok != tc.indexed || !reflect.DeepEqual(idx, tc.index) {
				t.Errorf("indexed = %v %v, want %v %v", idx, ok, tc.index, tc.indexed)
			}
			if got := matches(user, e); got != tc.match {
				t.Errorf("matches = %v, want %v", got, tc.match)
			}
		})
	}
}

// TestFilterError: a filter that does not parse is a 400 invalidFilter
// that quotes the filter (at most maxEchoedFilter bytes of it, valid
// UTF-8) and names the grammar, never the parser's internal rule names.
func TestFilterError(t *testing.T) {
	long := strings.Repeat(`userName eq "a" or `, 50) + "é"
	for _, tc := range []struct {
		name, filter, echoed string
	}{
		{"missing value", `userName eq`, `"userName eq"`},
		{"unknown operator", `userName zz "x"`, `"userName zz \"x\""`},
		{"dangling and", `userName eq "a" and`, `"userName eq \"a\" and"`},
		{"open parentheses", `((((`, `"(((("`},
		{"long filter is cut", long, quote(long[:maxEchoedFilter] + "...")},
		{"cut inside a multi-byte character", strings.Repeat("a", maxEchoedFilter-1) + "é", quote(strings.Repeat("a", maxEchoedFilter-1) + "...")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseFilter(tc.filter); err == nil {
				t.Fatalf("parseFilter(%q) succeeded; the case needs a filter that does not parse", tc.filter)
			}
			e := filterError(tc.filter)
			if e.Status != 400 || e.ScimType != "invalidFilter" {
				t.Errorf("status %d scimType %q, want 400 invalidFilter", e.Status, e.ScimType)
			}
			if !strings.Contains(e.Detail, tc.echoed) {
				t.Errorf("detail %q does not quote the filter as %s", e.Detail, tc.echoed)
			}
			for _, internal := range []string{"op.", "func", "parse conflict", "int32", "\ufffd"} {
				if strings.Contains(e.Detail, internal) {
					t.Errorf("detail %q carries the parser's internals (%q)", e.Detail, internal)
				}
			}
		})
	}
}
