package scim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/internal/links"
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

// TestHeldAttributes: the attributes no target holds are read from a
// request (never the password), stored in a versioned object, and
// rendered only where a target's value is not already in the document.
func TestHeldAttributes(t *testing.T) {
	h := &Handler{base: "/scim/v2"}
	s, e := h.parseUser(doc(t, `{"userName":"u","password":"s3cret","name":{"givenName":"Barbara","familyName":"Jensen","formatted":"Ms. Barbara J Jensen"},"nickName":"Babs","locale":"en-US"}`))
	if e != nil {
		t.Fatal(e)
	}
	want := map[string]string{"name.givenName": "Barbara", "name.familyName": "Jensen", "name.formatted": "Ms. Barbara J Jensen", "nickName": "Babs", "locale": "en-US"}
	if !reflect.DeepEqual(s.Held, want) {
		t.Fatalf("held %v, want %v", s.Held, want)
	}
	stored := encodeHeld(s.Held)
	if got := decodeHeld(stored); !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip %v", got)
	}
	if decodeHeld(json.RawMessage(`{"v":2,"attrs":{"nickName":"x"}}`)) != nil {
		t.Error("an unknown format version was read")
	}
	// A target's givenName wins over the kept one.
	cur := state{Fields: map[canonical.Field]any{canonical.FieldGivenName: "Barb"}, Held: s.Held}
	out := roundTrip(h.resource("id1", cur))
	name, _ := out["name"].(map[string]any)
	if name["givenName"] != "Barb" || name["familyName"] != "Jensen" || name["formatted"] != "Ms. Barbara J Jensen" || out["nickName"] != "Babs" || out["password"] != nil {
		t.Errorf("rendered %v", out)
	}
	if prev := heldAsPrev(cur); prev.Fields[canonical.FieldGivenName] != "Barb" || prev.Fields[canonical.FieldFamilyName] != "Jensen" {
		t.Errorf("heldAsPrev %v", prev.Fields)
	}
	if _, e := h.parseUser(doc(t, `{"userName":"u","nickName":7}`)); e == nil {
		t.Error("a non-string nickName was accepted")
	}
	if _, e := h.parseUser(doc(t, `{"userName":"u","title":"`+strings.Repeat("t", links.MaxHeldBytes)+`"}`)); e == nil || e.Status != 400 || !strings.Contains(e.Detail, "title") {
		t.Errorf("oversized held attributes: %v", e)
	}
}
