package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LookupFunc reads an environment variable; os.LookupEnv in production,
// something else in tests and in `gateway dev`.
type LookupFunc func(string) (string, bool)

// LoadFile reads and loads path.
func LoadFile(path string, lookup LookupFunc) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Load(b, lookup)
}

// Load parses, expands, decodes, defaults and validates a gateway.yaml.
// Every problem found is reported, each naming its key.
func Load(data []byte, lookup LookupFunc) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %s", friendly("", err.Error(), nil))
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("config: the file is empty")
	}
	w := walker{lookup: lookup, refs: map[string]bool{}, lines: map[int]string{}}
	w.walk(doc.Content[0], "")
	if len(w.errs) > 0 {
		return nil, errors.Join(w.errs...)
	}
	expanded, err := yaml.Marshal(&doc)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// Errors from the strict decode carry line numbers of the re-encoded
	// text: map those lines to key paths.
	var again yaml.Node
	if err := yaml.Unmarshal(expanded, &again); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	lines := walker{lookup: lookup, refs: map[string]bool{}, lines: map[int]string{}, noExpand: true}
	lines.walk(again.Content[0], "")
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, lines.rewrite(err)
	}
	var errs []error
	errs = append(errs, c.checkLiteralSecrets(w.refs)...)
	c.applyDefaults()
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &c, nil
}

var varRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// walker expands ${VAR} on scalar values and remembers which keys were
// references (for the literal-secret rule) and which line holds which key
// (to turn the YAML library's line numbers into key paths).
type walker struct {
	lookup LookupFunc
	refs   map[string]bool
	lines  map[int]string
	errs   []error
	// noExpand only maps lines.
	noExpand bool
	// at lists every key and value node by line, so an error that gives
	// only a line can be matched to its key (several share a line in flow
	// style: server: {listen: [a]}).
	at map[int][]lineNode
}

// lineNode is one key or value of the document and its key path.
type lineNode struct {
	path  string
	kind  yaml.Kind
	value string
	key   bool
}

func (w *walker) walk(n *yaml.Node, path string) {
	if w.at == nil {
		w.at = map[int][]lineNode{}
	}
	if path != "" {
		w.at[n.Line] = append(w.at[n.Line], lineNode{path: path, kind: n.Kind, value: n.Value})
	}
	if n.Line > 0 {
		if _, ok := w.lines[n.Line]; !ok && path != "" {
			w.lines[n.Line] = path
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			p := k
			if path != "" {
				p = path + "." + k
			}
			w.lines[n.Content[i].Line] = p
			w.at[n.Content[i].Line] = append(w.at[n.Content[i].Line], lineNode{path: p, key: true, value: k})
			w.walk(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.walk(c, path+"["+strconv.Itoa(i)+"]")
		}
	case yaml.ScalarNode:
		if w.noExpand || !strings.Contains(n.Value, "${") {
			return
		}
		w.refs[path] = true
		var missing []string
		out := varRe.ReplaceAllStringFunc(n.Value, func(m string) string {
			sub := varRe.FindStringSubmatch(m)
			if v, ok := w.lookup(sub[1]); ok {
				return v
			}
			if sub[2] != "" {
				return sub[3]
			}
			missing = append(missing, sub[1])
			return ""
		})
		for _, name := range missing {
			w.errs = append(w.errs, fmt.Errorf("%s: environment variable %s is not set", path, name))
		}
		if strings.Contains(out, "${") && len(missing) == 0 {
			w.errs = append(w.errs, fmt.Errorf("%s: malformed ${VAR} reference", path))
		}
		n.Value = out
		// Let the expanded text resolve to its own type (a port, a bool),
		// and quote nothing by hand: the node stays one scalar.
		n.Tag = ""
		n.Style = 0
	}
}

var lineRe = regexp.MustCompile(`line (\d+): `)

// pathAt finds the key an error at line ln is about: the key an unknown
// field names, or the last value on the line of the kind (and text) the
// error reports; else the line's last key.
func (w *walker) pathAt(ln int, msg string) (string, bool) {
	nodes := w.at[ln]
	match := func(ok func(lineNode) bool) (string, bool) {
		for i := len(nodes) - 1; i >= 0; i-- {
			if ok(nodes[i]) {
				return nodes[i].path, true
			}
		}
		return "", false
	}
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		if p, ok := match(func(n lineNode) bool { return n.key && n.value == m[1] }); ok {
			return p, true
		}
	} else if m := cannotRe.FindStringSubmatch(msg); m != nil {
		kind := map[string]yaml.Kind{"!!map": yaml.MappingNode, "!!seq": yaml.SequenceNode}[m[1]]
		if kind == 0 {
			kind = yaml.ScalarNode
		}
		if p, ok := match(func(n lineNode) bool { return !n.key && n.kind == kind && (kind != yaml.ScalarNode || n.value == m[2]) }); ok {
			return p, true
		}
	}
	p, ok := w.lines[ln]
	return p, ok
}

// rewrite turns "line 12: field x not found" into "vendors.akana.x: ...".
func (w *walker) rewrite(err error) error {
	return w.rewriteFor(err, reflect.TypeOf(Config{}), "")
}

// rewriteFor rewrites a decode error of a value of type t whose keys sit
// under prefix, in the file's terms (see friendly).
func (w *walker) rewriteFor(err error, t reflect.Type, prefix string) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("config: %s", friendly(prefix, err.Error(), nil))
	}
	keys := yamlKeys(t)
	var errs []error
	for _, msg := range te.Errors {
		path, rest := prefix, msg
		if m := lineRe.FindStringSubmatch(msg); m != nil {
			ln, _ := strconv.Atoi(m[1])
			rest = strings.TrimPrefix(msg, m[0])
			if p, ok := w.pathAt(ln, rest); ok {
				path = p
			}
		}
		if prefix == "" && strings.HasPrefix(path, "[") {
			path = "" // the document itself is a list
		}
		text := friendly(path, rest, keys)
		if path == "" {
			errs = append(errs, fmt.Errorf("config: %s", text))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s", path, text))
	}
	return errors.Join(errs...)
}

func joinErrs(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}
