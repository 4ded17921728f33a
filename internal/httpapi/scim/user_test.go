package scim

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
)

func TestProject(t *testing.T) {
	res := map[string]any{"id": "1", "schemas": []any{SchemaUser}, "meta": map[string]any{"resourceType": "User"},
		"userName": "u", "displayName": "U", "name": map[string]any{"givenName": "G", "familyName": "F"},
		SchemaEnterpris: map[string]any{"employeeNumber": "7", "department": "Ops"}}
	for _, tc := range []struct {
		name           string
		attrs, exclude []string
		want           string
	}{
		{"attributes keep id, schemas, meta", []string{"userName", "name.givenName"}, nil,
			`{"id":"1","schemas":["` + SchemaUser + `"],"meta":{"resourceType":"User"},"userName":"u","name":{"givenName":"G"}}`},
		{"attributes match case-insensitively and reach extensions", []string{"DISPLAYNAME", SchemaEnterpris + ":employeeNumber"}, nil,
			`{"id":"1","schemas":["` + SchemaUser + `"],"meta":{"resourceType":"User"},"displayName":"U","` + SchemaEnterpris + `":{"employeeNumber":"7"}}`},
		{"a whole extension by its URN", []string{SchemaEnterpris}, nil,
			`{"id":"1","schemas":["` + SchemaUser + `"],"meta":{"resourceType":"User"},"` + SchemaEnterpris + `":{"employeeNumber":"7","department":"Ops"}}`},
		{"excludedAttributes never drop id", nil, []string{"id", "name.familyName", "displayName", SchemaEnterpris},
			`{"id":"1","schemas":["` + SchemaUser + `"],"meta":{"resourceType":"User"},"userName":"u","name":{"givenName":"G"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := roundTrip(project(res, tc.attrs, tc.exclude))
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				b, _ := json.Marshal(got)
				t.Errorf("got %s\nwant %s", b, tc.want)
			}
		})
	}
}

// TestEnterpriseMappings: mapped extension attributes become metadata or
// vendor extensions, manager's complex value included, and render back.
func TestEnterpriseMappings(t *testing.T) {
	ms, err := parseMappings(map[string]string{
		SchemaEnterpris + ":employeeNumber": "metadata.employee_number",
		SchemaEnterpris + ":manager":        "metadata.manager",
		SchemaEnterpris + ":costCenter":     "extensions.frontier.cost_center",
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &Handler{mappings: ms, base: "/scim/v2"}
	s, e := h.parseUser(doc(t, `{"userName":"u","`+SchemaEnterpris+`":{"employeeNumber":"701984","manager":{"value":"m-1"},"costCenter":"cc9"}}`))
	if e != nil {
		t.Fatal(e)
	}
	if !reflect.DeepEqual(s.Meta, map[string]any{"employee_number": "701984", "manager": "m-1"}) || s.Ext["frontier"]["cost_center"] != "cc9" {
		t.Fatalf("meta %v ext %v", s.Meta, s.Ext)
	}
	out := roundTrip(h.resource("id1", s))
	ent, _ := out[SchemaEnterpris].(map[string]any)
	if ent["employeeNumber"] != "701984" || ent["manager"].(map[string]any)["value"] != "m-1" {
		t.Errorf("rendered %v", out)
	}
	if _, err := parseMappings(map[string]string{"title": "profile.title"}); err == nil {
		t.Error("a mapping to neither metadata nor extensions was accepted")
	}
	if s.Fields[canonical.FieldUsername] != "u" {
		t.Errorf("userName %v", s.Fields)
	}
}
