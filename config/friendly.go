package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The YAML library's messages name Go types ("cannot unmarshal !!str `x`
// into int", "field x not found in type config.Vendor"), which mean nothing
// to someone editing gateway.yaml. friendly rewrites them in the file's
// own terms: what the key must be, and for an unknown key the closest known
// one.

var (
	unknownFieldRe = regexp.MustCompile("^field (\\S+) not found in type (\\S+)$")
	cannotRe       = regexp.MustCompile("^cannot unmarshal (!!\\w+)(?: `(.*)`)? into (\\S+)$")
)

// friendly rewrites one YAML decode message found at path. keys lists the
// YAML keys each struct type of the decoded value accepts, by Go type name.
func friendly(path, msg string, keys map[string][]string) string {
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		return unknownKey(m[1], keys[m[2]])
	}
	if m := cannotRe.FindStringSubmatch(msg); m != nil {
		if path == "" || strings.HasPrefix(path, "[") {
			return "the file must be a mapping of sections (server:, vendors:, ...)"
		}
		return "must be " + wantOf(m[3]) + ", not " + gotOf(m[1], m[2])
	}
	return strings.TrimPrefix(msg, "yaml: ")
}

// unknownKey says a key is unknown and suggests the closest known one:
// equal but for case and underscores (givenName, given-name), or within a
// few edits (atempt_timeout).
func unknownKey(key string, known []string) string {
	if len(known) == 0 {
		return "unknown key"
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s)) }
	best, bestD := "", 1<<30
	for _, k := range known {
		d := editDistance(norm(key), norm(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(1, len(key)/4) {
		return "unknown key; did you mean " + best + "?"
	}
	return "unknown key (known here: " + strings.Join(known, ", ") + ")"
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// wantOf describes a Go type the way a YAML author thinks of it.
func wantOf(goType string) string {
	switch {
	case goType == "time.Duration" || strings.HasSuffix(goType, ".Duration"):
		return "a duration like 2s or 150ms"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		return "a mapping of keys to values"
	case strings.HasPrefix(goType, "uint"):
		return "a whole number, 0 or more"
	case strings.HasPrefix(goType, "int"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string", strings.HasPrefix(goType, "canonical."):
		return "a single value"
	}
	return "a different kind of value"
}

// gotOf describes what the file holds: the text of a scalar, or its kind.
func gotOf(tag, value string) string {
	switch tag {
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	case "!!null":
		return "empty"
	}
	return strconv.Quote(value)
}

// yamlKeys lists, for every struct type reachable from t, the YAML keys it
// accepts, by the Go type name the YAML library's messages use.
func yamlKeys(t reflect.Type) map[string][]string {
	out := map[string][]string{}
	var visit func(reflect.Type)
	visit = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		if _, seen := out[t.String()]; seen {
			return
		}
		out[t.String()] = nil
		var keys []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if strings.Contains(opts, "inline") {
				visit(f.Type)
				keys = append(keys, out[f.Type.String()]...)
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			keys = append(keys, name)
			visit(f.Type)
		}
		slices.Sort(keys)
		out[t.String()] = keys
	}
	visit(t)
	return out
}

// DecodeStrict decodes one YAML node into into, refusing unknown keys, with
// errors in the file's terms naming each key under prefix (a settings
// block: "vendors.akana.settings"). Adapters' settings are decoded through
// it so their errors read like the rest of the config's.
func DecodeStrict(n *yaml.Node, into any, prefix string) error {
	if n == nil || n.Kind == 0 {
		return nil
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("%s: %s", prefix, friendly(prefix, err.Error(), nil))
	}
	var again yaml.Node
	if err := yaml.Unmarshal(b, &again); err != nil {
		return fmt.Errorf("%s: %s", prefix, friendly(prefix, err.Error(), nil))
	}
	lines := walker{refs: map[string]bool{}, lines: map[int]string{}, noExpand: true}
	if len(again.Content) > 0 {
		lines.walk(again.Content[0], prefix)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
		return lines.rewriteFor(err, reflect.TypeOf(into), prefix)
	}
	return nil
}
