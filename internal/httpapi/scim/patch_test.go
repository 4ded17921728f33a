package scim

import (
	"encoding/json"
	"reflect"
	"testing"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/identity-gateway/identity-gateway/canonical"
	"github.com/identity-gateway/identity-gateway/canonical/result"
)

func doc(t *testing.T, s string) map[string]any {
	t.Helper()
	v, err := decodeValue([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

func TestApplyPatch(t *testing.T) {
	base := `{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work","primary":true}],"active":true}`
	for _, tc := range []struct {
		name, ops, want string
		scimType        string
	}{
		{"replace no path (Okta active)", `[{"op":"replace","value":{"active":false}}]`,
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work","primary":true}],"active":false}`, ""},
		{"Entra PascalCase and False string", `[{"op":"Replace","path":"active","value":"False"}]`,
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work","primary":true}],"active":"False"}`, ""},
		{"value filter path", `[{"op":"replace","path":"emails[type eq \"work\"].value","value":"b@x"}]`,
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"b@x","type":"work","primary":true}],"active":true}`, ""},
		{"value filter with no match adds", `[{"op":"Add","path":"emails[type eq \"home\"].value","value":"h@x"}]`,
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work","primary":true},{"type":"home","value":"h@x"}],"active":true}`, ""},
		{"dotted keys in a no-path replace", `[{"op":"replace","value":{"name.givenName":"B","displayName":"B A"}}]`,
			`{"userName":"a","name":{"givenName":"B"},"displayName":"B A","emails":[{"value":"a@x","type":"work","primary":true}],"active":true}`, ""},
		{"enterprise extension path", `[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber","value":"7"}]`,
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work","primary":true}],"active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"7"}}`, ""},
		{"URN key in a no-path value", `[{"op":"replace","value":{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department":"Ops"}}]`,
			`{"userName":"a","name":{"givenName":"A"},"emails":[{"value":"a@x","type":"work","primary":true}],"active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Ops"}}`, ""},
		{"remove sub-attribute", `[{"op":"remove","path":"name.givenName"}]`,
			`{"userName":"a","name":{},"emails":[{"value":"a@x","type":"work","primary":true}],"active":true}`, ""},
		{"remove filtered element", `[{"op":"remove","path":"emails[type eq \"work\"]"}]`,
			`{"userName":"a","name":{"givenName":"A"},"active":true}`, ""},
		{"remove needs a path", `[{"op":"remove"}]`, "", "noTarget"},
		{"unknown op", `[{"op":"move","path":"userName"}]`, "", "invalidSyntax"},
		{"bad path", `[{"op":"replace","path":"emails[type eq","value":"x"}]`, "", "invalidPath"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ops []patchOp
			if err := json.Unmarshal([]byte(tc.ops), &ops); err != nil {
				t.Fatal(err)
			}
			d := doc(t, base)
			e := applyPatch(d, ops)
			if tc.scimType != "" {
				if e == nil || e.ScimType != tc.scimType {
					t.Fatalf("error %+v, want scimType %s", e, tc.scimType)
				}
				return
			}
			if e != nil {
				t.Fatal(e)
			}
			if want := doc(t, tc.want); !reflect.DeepEqual(roundTrip(d), want) {
				got, _ := json.Marshal(d)
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseUserEntraStrings(t *testing.T) {
	h := &Handler{}
	for _, tc := range []struct {
		active string
		want   bool
	}{{`"True"`, true}, {`"False"`, false}, {`false`, false}, {`true`, true}} {
		s, e := h.parseUser(doc(t, `{"userName":"u","active":`+tc.active+`,"emails":[{"value":"o@x"},{"value":"p@x","primary":"True"}]}`))
		if e != nil {
			t.Fatal(e)
		}
		if s.Fields[canonical.FieldEnabled] != tc.want || s.email() != "p@x" {
			t.Errorf("active %s: %+v", tc.active, s.Fields)
		}
	}
	if _, e := h.parseUser(doc(t, `{"userName":"u","active":"yes"}`)); e == nil || e.ScimType != "invalidValue" {
		t.Errorf("active yes: %+v", e)
	}
}

func TestFilterIndexAndMatch(t *testing.T) {
	res := doc(t, `{"id":"ID1","userName":"Bjensen","externalId":"E1","active":true,"emails":[{"value":"b@x.com","type":"work"}]}`)
	for _, tc := range []struct {
		f       string
		indexed bool
		match   bool
	}{
		{`userName eq "bjensen"`, true, true},
		{`externalId eq "E1"`, true, true},
		{`externalId eq "e1"`, true, false}, // caseExact
		{`id eq "ID1"`, true, true},
		{`emails.value eq "B@x.com"`, true, true},
		{`emails[value eq "b@x.com"]`, true, true},
		{`userName eq "bjensen" and active eq true`, true, true},
		{`userName eq "bjensen" and active eq false`, true, false},
		{`userName eq "x" or externalId eq "E1"`, true, true},
		{`userName eq "x" or active eq true`, false, true},
		{`userName sw "bj"`, false, true},
	} {
		e, err := filter.ParseFilter([]byte(tc.f))
		if err != nil {
			t.Fatalf("%s: %v", tc.f, err)
		}
		if _, ok := indexed(e); ok != tc.indexed {
			t.Errorf("%s: indexed %v", tc.f, ok)
		}
		if got := matches(res, e); got != tc.match {
			t.Errorf("%s: match %v", tc.f, got)
		}
	}
}

func TestOutcome(t *testing.T) {
	applied := TargetResult{Status: "applied"}
	down := TargetResult{Status: "failed", Error: &result.ErrorBody{Code: canonical.CodeUpstreamUnavailable}}
	unlinked := TargetResult{Status: "not_linked", Error: &result.ErrorBody{Code: canonical.CodeNotLinked}}
	for _, tc := range []struct {
		name   string
		r      map[string]TargetResult
		create bool
		status int
	}{
		{"all applied", map[string]TargetResult{"a": applied, "b": {Status: "unchanged"}}, false, 0},
		{"one down: retry", map[string]TargetResult{"a": applied, "b": down}, false, 502},
		{"one unlinked: report", map[string]TargetResult{"a": applied, "b": unlinked}, false, 0},
		{"none linked: 404", map[string]TargetResult{"b": unlinked}, false, 404},
		{"create never fails for a refusal", map[string]TargetResult{"b": unlinked}, true, 0},
	} {
		err := outcome(tc.r, tc.create)
		got := 0
		if err != nil {
			got = err.(*Error).Status
		}
		if got != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.status)
		}
	}
}

// TestBulkDeps: an operation waits for the earlier ones creating a bulkId
// it references and for those addressing the same user; independent ones
// wait for nothing.
func TestBulkDeps(t *testing.T) {
	ops := []bulkOp{
		{Method: "POST", Path: "/Users", BulkID: "a", Data: json.RawMessage(`{"userName":"Ann"}`)},    // 0
		{Method: "POST", Path: "/Users", BulkID: "b", Data: json.RawMessage(`{"userName":"bob"}`)},    // 1
		{Method: "PATCH", Path: "/Users/bulkId:a", Data: json.RawMessage(`{}`)},                       // 2: a
		{Method: "PATCH", Path: "/Users/u1", Data: json.RawMessage(`{}`)},                             // 3
		{Method: "DELETE", Path: "/Users/u1"},                                                         // 4: u1
		{Method: "POST", Path: "/Users", Data: json.RawMessage(`{"userName":"ANN"}`)},                 // 5: same userName as 0
		{Method: "PUT", Path: "/Users/u2", Data: json.RawMessage(`{"manager":{"value":"bulkId:b"}}`)}, // 6: references b
		{Method: "PATCH", Path: "/Users/u3", Data: json.RawMessage(`{"userName":"x"}`)},               // 7
	}
	want := [][]int{nil, nil, {0}, nil, {3}, {0}, {1}, nil}
	if got := bulkDeps(ops); !reflect.DeepEqual(got, want) {
		t.Fatalf("deps %v, want %v", got, want)
	}
}
