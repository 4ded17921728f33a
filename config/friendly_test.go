package config

import (
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// goWords are Go type names and YAML-library wording an operator must
// never have to decode.
var goWords = regexp.MustCompile(`yaml:|!!|unmarshal|time\.Duration|\bstruct\b|\bconfig\.|\bmap\[|\[\]|\bu?int\d*\b|\bfloat\d*\b|\bbool\b|\bstring\b|not found in type`)

const friendlyBase = `
vendors:
  akana:
    base_url: https://akana.example
    credential:
      username: u
      password: ${PW}
`

// TestConfigErrorsSpeakYAML: each bad config's error names the key and says
// what it must be, in the file's terms, with a did-you-mean for a typo.
func TestConfigErrorsSpeakYAML(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       string
	}{
		{"typo in a vendor key", friendlyBase + "    atempt_timeout: 5s\n", "vendors.akana.atempt_timeout: unknown key; did you mean attempt_timeout?"},
		{"camel case key", friendlyBase + "    attemptTimeout: 5s\n", "vendors.akana.attemptTimeout: unknown key; did you mean attempt_timeout?"},
		{"typo in a section", "sever: {listen: 127.0.0.1:1}\n" + friendlyBase, "sever: unknown key; did you mean server?"},
		{"typo in a nested key", friendlyBase + "    retry:\n      max_wiat: 1s\n", "vendors.akana.retry.max_wiat: unknown key; did you mean max_wait?"},
		{"nothing close", friendlyBase + "    colour: blue\n", "vendors.akana.colour: unknown key (known here: attempt_timeout, base_url, breaker,"},
		{"duration as text", friendlyBase + "    attempt_timeout: five\n", `vendors.akana.attempt_timeout: "five" is not a duration like 2s or 150ms`},
		{"duration as list", friendlyBase + "    deadline: [1]\n", "vendors.akana.deadline: must be a duration like 2s or 150ms"},
		{"int as text", friendlyBase + "    retry: {max: lots}\n", `vendors.akana.retry.max: must be a whole number, not "lots"`},
		{"uint negative", friendlyBase + "    breaker: {consecutive_failures: -1}\n", `vendors.akana.breaker.consecutive_failures: must be a whole number, 0 or more, not "-1"`},
		{"bool as text", friendlyBase + "    insecure: maybe\n", `vendors.akana.insecure: must be true or false, not "maybe"`},
		{"float as text", "telemetry: {sample_ratio: high}\n" + friendlyBase, `telemetry.sample_ratio: must be a number, not "high"`},
		{"scalar as list", "server:\n  listen: [a]\n" + friendlyBase, "server.listen: must be a single value, not a list"},
		{"section as scalar", friendlyBase + "    retry: 3\n", `vendors.akana.retry: must be a mapping of keys to values, not "3"`},
		{"list as mapping", "clients:\n  a: 1\n" + friendlyBase, "clients: must be a list, not a mapping"},
		{"mapping as list", "users: [1]\n" + friendlyBase, "users: must be a mapping of keys to values, not a list"},
		{"vendor as scalar", "vendors:\n  akana: 5\n", `vendors.akana: must be a mapping of keys to values, not "5"`},
		{"file is a list", "- a\n", "config: the file must be a mapping of sections"},
		{"file is text", "just text\n", "config: the file must be a mapping of sections"},
		{"broken syntax", "server: {listen: [\n", "config: line "},
		{"client rate as text", "clients:\n  - name: a\n    key_sha256: x\n    rate_limit: {requests: many}\n" + friendlyBase, `clients[0].rate_limit.requests: must be a whole number, not "many"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yaml), env(map[string]string{"PW": "p"}))
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tc.want)
			}
			if m := goWords.FindString(err.Error()); m != "" {
				t.Errorf("error %q shows %q", err, m)
			}
		})
	}
}

// TestDecodeStrictSettings: an adapter's settings block gets the same
// wording under its own prefix.
func TestDecodeStrictSettings(t *testing.T) {
	type settings struct {
		Tenant          string   `yaml:"tenant"`
		SessionLifetime Duration `yaml:"session_lifetime"`
		MaxChars        int      `yaml:"max_avatar_chars"`
	}
	for _, tc := range []struct{ yaml, want string }{
		{"tenat: acme\n", "vendors.akana.settings.tenat: unknown key; did you mean tenant?"},
		{"max_avatar_chars: big\n", `vendors.akana.settings.max_avatar_chars: must be a whole number, not "big"`},
		{"session_lifetime: soon\n", `vendors.akana.settings.session_lifetime: "soon" is not a duration`},
	} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tc.yaml), &n); err != nil {
			t.Fatal(err)
		}
		err := DecodeStrict(n.Content[0], &settings{}, "vendors.akana.settings")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && goWords.MatchString(err.Error()) {
			t.Errorf("%q: %v shows Go wording", tc.yaml, err)
		}
	}
	var ok settings
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("tenant: acme\nmax_avatar_chars: 5\n"), &n)
	if err := DecodeStrict(n.Content[0], &ok, "p"); err != nil || ok.Tenant != "acme" || ok.MaxChars != 5 {
		t.Errorf("%v %+v", err, ok)
	}
}
