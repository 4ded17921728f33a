package config

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestEveryRuleHasACase fails when a validation rule has no test case: it
// reads every call of the validators' bad (and of refuse, the literal-secret
// rule) in this package's code and wants, for each, a string literal in the
// tests that holds both the key it names and its message, which is what
// the table cases assert an error contains. A new rule without a case fails
// here, named by file and line.
func TestEveryRuleHasACase(t *testing.T) {
	rules, wants := packageRules(t)
	if len(rules) < 50 {
		t.Fatalf("found only %d rules: the parse misses calls", len(rules))
	}
	for _, r := range rules {
		found := false
		for _, w := range wants {
			if i := strings.Index(w, r.key); i >= 0 && strings.Contains(w[i:], r.messageStart()) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: rule %q %q has no test case asserting an error with its key and message", r.pos, r.key, r.message)
		}
	}
}

type rule struct {
	pos          string
	key, message string // constant parts of the key and of the message
}

// messageStart is as much of the message as a case has to quote: cases
// assert a distinctive start, not the whole sentence.
func (r rule) messageStart() string {
	m := strings.TrimSpace(r.message)
	return m[:min(len(m), 16)]
}

var verb = regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)

// longestConstant is the longest text between format verbs of the string
// literals in e (a literal, a concatenation or an fmt.Sprintf call).
func longestConstant(e ast.Expr) string {
	var best string
	ast.Inspect(e, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		for _, part := range verb.Split(s, -1) {
			if len(part) > len(best) {
				best = part
			}
		}
		return true
	})
	return best
}

// firstConstant is the text of a format literal before its first verb,
// or its longest constant part when it starts with a verb.
func firstConstant(e ast.Expr) string {
	if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
		if s, err := strconv.Unquote(lit.Value); err == nil {
			if first := strings.TrimSpace(verb.Split(s, 2)[0]); first != "" {
				return first
			}
		}
	}
	return longestConstant(e)
}

// packageRules returns the rules of the package's code and every string
// literal of its tests.
func packageRules(t *testing.T) ([]rule, []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var (
		rules []rule
		wants []string
	)
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, "_test.go") {
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil {
						wants = append(wants, s)
					}
				}
				return true
			})
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn, ok := call.Fun.(*ast.Ident)
			if !ok {
				return true
			}
			var r rule
			switch {
			case fn.Name == "bad" && len(call.Args) >= 2:
				r = rule{key: longestConstant(call.Args[0]), message: firstConstant(call.Args[1])}
			case fn.Name == "refuse" && len(call.Args) == 1:
				r = rule{key: longestConstant(call.Args[0]), message: "a literal secret is refused"}
			default:
				return true
			}
			r.pos = fset.Position(call.Pos()).String()
			rules = append(rules, r)
			return true
		})
	}
	return rules, wants
}
