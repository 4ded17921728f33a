package config

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// JSONFromYAML converts a YAML document (the embedded api/openapi.yaml) to
// JSON, so the YAML library stays in this package.
func JSONFromYAML(src []byte) ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	return json.Marshal(jsonValue(doc))
}

// jsonValue turns the maps YAML decodes with non-string keys (a response
// code written unquoted) into maps JSON can encode.
func jsonValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonValue(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = jsonValue(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = jsonValue(e)
		}
	}
	return v
}

// CredentialVars reads, from a gateway.yaml as written (before expansion),
// the ${VAR}s each vendor's credential comes from, by vendor name: the
// loaded Config holds only their values, and check-vendors names the
// variables to fix. A file that does not parse gives an empty map (Load
// reports why).
func CredentialVars(raw []byte) map[string][]string {
	var doc struct {
		Vendors map[string]struct {
			Credential struct {
				Username, Password, Token string
			} `yaml:"credential"`
		} `yaml:"vendors"`
	}
	out := map[string][]string{}
	if yaml.Unmarshal(raw, &doc) != nil {
		return out
	}
	for name, v := range doc.Vendors {
		for _, s := range []string{v.Credential.Username, v.Credential.Password, v.Credential.Token} {
			for _, m := range varRe.FindAllStringSubmatch(s, -1) {
				out[name] = append(out[name], m[1])
			}
		}
	}
	return out
}
