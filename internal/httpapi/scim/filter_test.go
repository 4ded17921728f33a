package scim

import (
	"reflect"
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
