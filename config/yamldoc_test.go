package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestJSONFromYAML(t *testing.T) {
	cases := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "unquoted response code becomes a string key", in: "responses:\n  200:\n    description: ok\n", want: `{"responses":{"200":{"description":"ok"}}}`},
		{name: "lists and nesting", in: "a: [1, {b: true}]\n", want: `{"a":[1,{"b":true}]}`},
		{name: "not YAML", in: "a: [1\n", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := JSONFromYAML([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestCredentialVars(t *testing.T) {
	cases := []struct {
		name, in string
		want     map[string][]string
	}{
		{name: "each credential field, per vendor",
			in:   "vendors:\n  a:\n    credential:\n      username: ${A_USER}\n      password: ${A_PASS}\n  b:\n    credential:\n      token: ${B_TOKEN:-x}\n",
			want: map[string][]string{"a": {"A_USER", "A_PASS"}, "b": {"B_TOKEN"}}},
		{name: "literal values name no variable", in: "vendors:\n  a:\n    credential:\n      username: svc\n", want: map[string][]string{}},
		{name: "unparsable file", in: "vendors: [\n", want: map[string][]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, CredentialVars([]byte(tc.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
