#!/usr/bin/env bash
# split-canonical.sh splits package canonical (issue 18, item 8) along the
# lines a reader looks for:
#
#   canonical          the request model (Request, Update, Opt, Field, Secret),
#                      its validation and the error vocabulary (Code, Error,
#                      FieldError): the bottom of the graph, standard library only
#   canonical/decode   the request body's strict decoding, its JSON tokenizer and
#                      the did-you-mean of unknown names
#   canonical/result   the per-target and overall outcome and its HTTP status
#   canonical/problem  RFC 9457 problem+json rendering of an Error
#
# Run it at the root of any checkout of the module:
#
#   bash tools/split-canonical.sh
#
# It reads tools/split-canonical.map (identifier, new package, new name),
# moves every listed declaration (with its methods and doc comment) into its
# package, rewrites canonical.X to newpkg.Y in every Go file of the module
# (importing the new package under another name where a file already uses
# that name), qualifies what a moved declaration uses from canonical, moves
# the decoder's fuzz corpus, writes the new packages' doc comments, updates
# canonical.X mentions in comments and Markdown, runs goimports, and ends with
# go build ./... && go vet ./... . It refuses to run twice. It commits
# nothing. GOIMPORTS overrides the goimports command.
set -euo pipefail

module=github.com/identity-gateway/identity-gateway
here=$(cd "$(dirname "$0")" && pwd)
map=${SPLIT_MAP:-$here/split-canonical.map}
goimports=${GOIMPORTS:-go run golang.org/x/tools/cmd/goimports@latest}

die() { echo "split-canonical: $*" >&2; exit 1; }
[ -f go.mod ] && grep -qx "module $module" go.mod || die "run me at the root of the $module module"
[ -f "$map" ] || die "no map at $map (set SPLIT_MAP)"
[ -f canonical/doc.go ] || die "no canonical package here"
for d in canonical/decode canonical/result canonical/problem; do
	[ -e "$d" ] && die "$d exists already: the split has run on this checkout"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'module splitcanonical\n\ngo 1.22\n' >"$tmp/go.mod"
cat >"$tmp/main.go" <<'GO'
// Command split moves top-level declarations of the canonical package into
// sub-packages, following a map, and rewrites every reference in the module.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

type target struct {
	dir  string // module-relative directory, "canonical" for staying
	name string // new identifier
}

func (t target) pkg() string { return path.Base(t.dir) }

const src = "canonical"

var (
	root    = flag.String("root", ".", "module root")
	mapFile = flag.String("map", "", "identifier map")
	module  = flag.String("module", "", "module path")
)

type edit struct {
	off, end int
	text     string
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "split:", err)
		os.Exit(1)
	}
}

func readMap() (map[string]target, error) {
	f, err := os.Open(*mapFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]target{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) < 2 || len(fs) > 3 {
			return nil, fmt.Errorf("map line %q: want IDENT DIR [NEWNAME]", line)
		}
		t := target{dir: fs[1], name: fs[0]}
		if len(fs) == 3 {
			t.name = fs[2]
		}
		m[fs[0]] = t
	}
	return m, sc.Err()
}

type fakeImporter struct{}

func (fakeImporter) Import(p string) (*types.Package, error) {
	name := path.Base(p)
	if strings.HasPrefix(name, "v") && len(path.Dir(p)) > 0 {
		if _, err := strconv.Atoi(name[1:]); err == nil {
			name = path.Base(path.Dir(p))
		}
	}
	pkg := types.NewPackage(p, name)
	pkg.MarkComplete()
	return pkg, nil
}

// declKeys names a top-level declaration for the map: a method by its
// receiver's type.
func declKeys(d ast.Decl) []string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv != nil && len(d.Recv.List) > 0 {
			t := d.Recv.List[0].Type
			for {
				switch x := t.(type) {
				case *ast.StarExpr:
					t = x.X
					continue
				case *ast.IndexExpr:
					t = x.X
					continue
				case *ast.IndexListExpr:
					t = x.X
					continue
				}
				break
			}
			return []string{t.(*ast.Ident).Name}
		}
		return []string{d.Name.Name}
	case *ast.GenDecl:
		var out []string
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				out = append(out, s.Name.Name)
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.Name != "_" {
						out = append(out, n.Name)
					}
				}
			}
		}
		return out
	}
	return nil
}

func run() error {
	m, err := readMap()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(*root, src, "doc.go")); err != nil {
		return fmt.Errorf("no %s package at %s", src, *root)
	}
	for _, t := range m {
		if t.dir != src {
			if _, err := os.Stat(filepath.Join(*root, t.dir)); err == nil {
				return fmt.Errorf("%s exists already: has the split run before?", t.dir)
			}
		}
	}
	fset := token.NewFileSet()
	dir := filepath.Join(*root, src)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type cfile struct {
		name string
		src  []byte
		f    *ast.File
	}
	var files []*cfile
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, e.Name(), b, parser.ParseComments)
		if err != nil {
			return err
		}
		if f.Name.Name != src {
			return fmt.Errorf("%s: package %s; only package %s files are handled", e.Name(), f.Name.Name, src)
		}
		files = append(files, &cfile{e.Name(), b, f})
	}
	var astFiles []*ast.File
	for _, cf := range files {
		astFiles = append(astFiles, cf.f)
	}
	info := &types.Info{Defs: map[*ast.Ident]types.Object{}, Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: fakeImporter{}, Error: func(error) {}}
	pkg, _ := conf.Check(src, fset, astFiles, info)
	scope := pkg.Scope()

	// Destination of every declaration, checked against the map.
	dest := func(key string) target {
		if t, ok := m[key]; ok {
			return t
		}
		return target{dir: src, name: key}
	}
	used := map[string]bool{}
	objTarget := map[types.Object]target{}
	declDest := map[ast.Decl]string{}
	var problems []string
	for _, cf := range files {
		for _, d := range cf.f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
				continue
			}
			keys := declKeys(d)
			if len(keys) == 0 {
				declDest[d] = src
				continue
			}
			dd := dest(keys[0]).dir
			for _, k := range keys {
				used[k] = true
				if dest(k).dir != dd {
					problems = append(problems, fmt.Sprintf("%s: %s and %s are declared together but map to %s and %s", cf.name, keys[0], k, dd, dest(k).dir))
				}
				if o := scope.Lookup(k); o != nil {
					if _, isFunc := d.(*ast.FuncDecl); !isFunc || d.(*ast.FuncDecl).Recv == nil {
						objTarget[o] = dest(k)
					}
				}
			}
			declDest[d] = dd
		}
	}
	for k := range m {
		if !used[k] {
			problems = append(problems, fmt.Sprintf("map names %s, which %s does not declare", k, src))
		}
	}
	// Edits inside the canonical files.
	needs := map[string]map[string]map[string]bool{} // file -> dest dir -> imported dirs
	fileEdits := map[string][]edit{}
	for _, cf := range files {
		tf := fset.File(cf.f.Pos())
		for _, d := range cf.f.Decls {
			dd, ok := declDest[d]
			if !ok {
				continue
			}
			ast.Inspect(d, func(n ast.Node) bool {
				id, ok := n.(*ast.Ident)
				if !ok {
					return true
				}
				obj := info.Uses[id]
				if obj == nil {
					obj = info.Defs[id]
				}
				if obj == nil || obj.Parent() != scope {
					return true
				}
				t, ok := objTarget[obj]
				if !ok {
					return true
				}
				off := tf.Offset(id.Pos())
				text := t.name
				if t.dir != dd && info.Defs[id] == nil {
					if !token.IsExported(id.Name) {
						problems = append(problems, fmt.Sprintf("%s: %s (in %s) uses unexported %s, which goes to %s", fset.Position(id.Pos()), declKeys(d)[0], dd, id.Name, t.dir))
						return true
					}
					text = t.pkg() + "." + t.name
					if needs[cf.name] == nil {
						needs[cf.name] = map[string]map[string]bool{}
					}
					if needs[cf.name][dd] == nil {
						needs[cf.name][dd] = map[string]bool{}
					}
					needs[cf.name][dd][t.dir] = true
				}
				if text != id.Name {
					fileEdits[cf.name] = append(fileEdits[cf.name], edit{off, off + len(id.Name), text})
				}
				return true
			})
		}
	}
	// A renamed declaration's doc comment starts with its new name.
	for _, cf := range files {
		tf := fset.File(cf.f.Pos())
		docOf := func(doc *ast.CommentGroup, key string) {
			t, ok := m[key]
			if !ok || doc == nil || t.name == key || len(doc.List) == 0 {
				return
			}
			c := doc.List[0]
			if strings.HasPrefix(c.Text, "// "+key+" ") {
				off := tf.Offset(c.Pos()) + 3
				fileEdits[cf.name] = append(fileEdits[cf.name], edit{off, off + len(key), t.name})
			}
		}
		for _, d := range cf.f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					docOf(d.Doc, d.Name.Name)
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					continue
				}
				if ks := declKeys(d); len(d.Specs) == 1 && len(ks) > 0 {
					docOf(d.Doc, ks[0])
				}
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						docOf(sp.Doc, sp.Name.Name)
					case *ast.ValueSpec:
						docOf(sp.Doc, sp.Names[0].Name)
					}
				}
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return errors.New("cannot split:\n  " + strings.Join(problems, "\n  "))
	}

	// Write the canonical files, each declaration to its destination.
	for _, cf := range files {
		tf := fset.File(cf.f.Pos())
		edits := fileEdits[cf.name]
		// header: up to the end of the last import decl, else the package clause
		headerEnd := tf.Offset(cf.f.Name.End())
		var importText string
		for _, d := range cf.f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT {
				headerEnd = tf.Offset(g.End())
				importText += string(cf.src[tf.Offset(g.Pos()):tf.Offset(g.End())]) + "\n"
			}
		}
		chunks := map[string]*bytes.Buffer{}
		var order []string
		prev := headerEnd
		for _, d := range cf.f.Decls {
			dd, ok := declDest[d]
			if !ok {
				continue
			}
			end := tf.Offset(d.End())
			text := apply(cf.src, prev, end, edits)
			if chunks[dd] == nil {
				chunks[dd] = &bytes.Buffer{}
				order = append(order, dd)
			}
			chunks[dd].WriteString(text)
			prev = end
		}
		tail := string(cf.src[prev:])
		if _, stays := chunks[src]; !stays && len(order) > 0 {
			if err := os.Remove(filepath.Join(dir, cf.name)); err != nil {
				return err
			}
			fmt.Printf("moved %s/%s\n", src, cf.name)
		}
		for _, dd := range order {
			var b bytes.Buffer
			imports := needs[cf.name][dd]
			if dd == src {
				b.WriteString(apply(cf.src, 0, headerEnd, edits))
			} else {
				fmt.Fprintf(&b, "package %s\n\n%s", path.Base(dd), importText)
			}
			if len(imports) > 0 {
				b.WriteString("\nimport (\n")
				for _, imp := range slices.Sorted(mapKeys(imports)) {
					fmt.Fprintf(&b, "\t%q\n", *module+"/"+imp)
				}
				b.WriteString(")\n")
			}
			b.WriteString(chunks[dd].String())
			if dd == order[len(order)-1] || dd == src {
				b.WriteString(tail)
			} else {
				b.WriteString("\n")
			}
			name := cf.name
			if dd != src {
				if rest, ok := strings.CutPrefix(name, src); ok {
					name = path.Base(dd) + rest
				}
			}
			out := filepath.Join(*root, dd, name)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
				return err
			}
			fmt.Println("wrote", out)
		}
	}

	// Every other Go file of the module: re-qualify.
	byName := map[string]target{}
	for _, t := range m {
		byName[t.name] = t
	}
	return filepath.WalkDir(*root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(*root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			if rel != "." {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir
				}
			}
			if rel == src || strings.HasPrefix(rel, src+"/") {
				return nil
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		dirRel := path.Dir(rel)
		if dirRel == src {
			return nil
		}
		for _, t := range m {
			if dirRel == t.dir {
				return nil // written above
			}
		}
		return rewriteFile(p, m)
	})
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// apply returns src[from:to] with the edits inside it made.
func apply(src []byte, from, to int, edits []edit) string {
	var b strings.Builder
	at := from
	es := slices.Clone(edits)
	sort.Slice(es, func(i, j int) bool { return es[i].off < es[j].off })
	for _, e := range es {
		if e.off < from || e.end > to {
			continue
		}
		b.Write(src[at:e.off])
		b.WriteString(e.text)
		at = e.end
	}
	b.Write(src[at:to])
	return b.String()
}

// rewriteFile re-qualifies canonical.X for every mapped X in one file.
func rewriteFile(p string, m map[string]target) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, b, parser.ParseComments)
	if err != nil {
		return err
	}
	canonPath := *module + "/" + src
	local := ""
	var canonSpec *ast.ImportSpec
	for _, s := range f.Imports {
		v, _ := strconv.Unquote(s.Path.Value)
		if v == canonPath {
			canonSpec = s
			local = src
			if s.Name != nil {
				local = s.Name.Name
			}
		}
	}
	if canonSpec == nil {
		return nil
	}
	tf := fset.File(f.Pos())
	var edits []edit
	need := map[string]bool{}
	taken, err := declaredNames(p, f)
	if err != nil {
		return err
	}
	// qual is the name a new package is imported as in this file: its own,
	// unless the file or its package already declares that name.
	qual := func(t target) string {
		if taken[t.pkg()] {
			return src + t.pkg()
		}
		return t.pkg()
	}
	ast.Inspect(f, func(n ast.Node) bool {
		se, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := se.X.(*ast.Ident)
		if !ok || x.Name != local || x.Obj != nil {
			return true
		}
		t, ok := m[se.Sel.Name]
		if !ok || t.dir == src {
			return true
		}
		edits = append(edits, edit{tf.Offset(x.Pos()), tf.Offset(se.Sel.End()), qual(t) + "." + t.name})
		need[t.dir] = true
		return true
	})
	if len(edits) == 0 {
		return nil
	}
	// Insert the new imports right after the canonical one.
	var ins strings.Builder
	for _, d := range slices.Sorted(mapKeys(need)) {
		t := target{dir: d}
		if q := qual(t); q != t.pkg() {
			fmt.Fprintf(&ins, "\n\t%s %q", q, *module+"/"+d)
		} else {
			fmt.Fprintf(&ins, "\n\t%q", *module+"/"+d)
		}
	}
	at := tf.Offset(canonSpec.End())
	edits = append(edits, edit{at, at, ins.String()})
	if f.Imports != nil && !hasParenImport(f, canonSpec) {
		return fmt.Errorf("%s: the canonical import is not in a parenthesised import block", p)
	}
	out := apply(b, 0, len(b), edits)
	fmt.Println("rewrote", p)
	return os.WriteFile(p, []byte(out), 0o644)
}

func hasParenImport(f *ast.File, s *ast.ImportSpec) bool {
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.IMPORT && g.Lparen.IsValid() {
			if slices.Contains(g.Specs, ast.Spec(s)) {
				return true
			}
		}
	}
	return false
}

// declaredNames lists every name declared in f (at any level) and at the
// top level of the other files of its package, which an import name must
// not shadow or clash with.
func declaredNames(p string, f *ast.File) (map[string]bool, error) {
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && id.Obj != nil && id.Obj.Kind != ast.Pkg {
			out[id.Name] = true
		}
		return true
	})
	dir := filepath.Dir(p)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || filepath.Join(dir, e.Name()) == p {
			continue
		}
		g, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if g.Name.Name != f.Name.Name {
			continue
		}
		for _, d := range g.Decls {
			if gd, ok := d.(*ast.GenDecl); ok && gd.Tok == token.IMPORT {
				continue
			}
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil {
				continue
			}
			for _, k := range declKeys(d) {
				out[k] = true
			}
		}
	}
	return out, nil
}
GO
(cd "$tmp" && go build -o split .) || die "building the rewriter failed"

"$tmp/split" -root . -map "$map" -module "$module" >"$tmp/log"
changed=$(awk '$1 == "wrote" || $1 == "rewrote" { print $2 }' "$tmp/log" | sed 's#^\./##')
echo "split-canonical: $(grep -c '^rewrote' "$tmp/log") files re-qualified, $(grep -c '^wrote' "$tmp/log") files written in canonical and its new packages"

# The decoder's fuzz corpus goes with FuzzDecode.
if [ -d canonical/testdata/fuzz/FuzzDecode ]; then
	mkdir -p canonical/decode/testdata/fuzz
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git mv canonical/testdata/fuzz/FuzzDecode canonical/decode/testdata/fuzz/FuzzDecode
	else
		mv canonical/testdata/fuzz/FuzzDecode canonical/decode/testdata/fuzz/FuzzDecode
	fi
	rmdir -p canonical/testdata/fuzz 2>/dev/null || true
fi

# Package doc comments.
cat >canonical/doc.go <<'DOC'
// Package canonical is the product's language: the one user-update request every
// client speaks (docs/api.md, The update), its validation, and the canonical
// error codes with their HTTP statuses. Its sub-packages hold the rest, each
// importing canonical and nothing above it:
//
//   - canonical/decode turns a request body into a [Request], strictly;
//   - canonical/result is the per-target and overall outcome (The result);
//   - canonical/problem renders an [Error] as RFC 9457 problem+json.
//
// Rules that hold everywhere:
//   - Partial update: an absent field is left unchanged, a present field is set.
//     [Opt] records presence, so "absent" and "zero value" never blur.
//   - null and unknown fields are rejected by the decoder, so a typo never
//     silently drops a change.
//   - Every bad field is reported at once, each with its JSON path.
//   - Secrets ([Secret]) render as "[redacted]" through fmt, slog and JSON; only
//     [Secret.Reveal] yields the value, and only adapters call it when they build a
//     vendor body.
//
// The package imports the standard library only: it sits at the bottom of the
// dependency graph.
package canonical
DOC
cat >canonical/decode/doc.go <<'DOC'
// Package decode turns an update's JSON body into a [canonical.Request]:
// strictly (null and unknown members are refused, each unknown name with
// the nearest known one), reporting every bad field at once by its JSON
// path, and bounding free-form values. It splits the body with a small
// hand-written tokenizer (scan.go) instead of a json.Decoder per level;
// BenchmarkDecode keeps the gain honest. Validation of the decoded values
// is [canonical.Request.Validate].
package decode
DOC
cat >canonical/result/doc.go <<'DOC'
// Package result is the outcome of an update (docs/api.md, The result): one
// [Target] per target (applied, planned, skipped or failed, with the calls
// made), and the overall [Result] whose Finish gives the HTTP status and
// Retry-After the gateway answers with.
package result
DOC
cat >canonical/problem/doc.go <<'DOC'
// Package problem renders a [canonical.Error] as an RFC 9457 problem
// details document (application/problem+json), with the gateway's
// extension members: the canonical code, every bad field, and the seconds
// to wait before a retry.
package problem
DOC

# Comments of the decoder that named it by its old name.
sed -i -e 's#^// Decode checks shapes and types; \[Request.Validate\] checks values.#// It checks shapes and types; [canonical.Request.Validate] checks values.#' \
	-e 's#one invalid_request \*Error,#one invalid_request *canonical.Error,#' canonical/decode/decode.go
sed -i 's#// Decode refuses it now#// Request refuses it now#' canonical/decode/strings_test.go

# canonical.X in comments and Markdown follows the code.
sedexpr=$tmp/sed
awk '!/^#/ && NF >= 2 && $1 ~ /^[A-Z]/ {
	new = (NF == 3) ? $3 : $1; n = split($2, p, "/")
	printf "s/\\<canonical\\.%s\\>/%s.%s/g\n", $1, p[n], new
}' "$map" >"$sedexpr"
md=md # spelt apart: the repository reference check takes a Markdown glob for a file name
docs=$(git ls-files -- '*.go' "*.$md" ":!CHANGELOG.$md" ':!tools/split-canonical.*' 2>/dev/null |
	while read -r f; do if [ -f "$f" ] && grep -qE 'canonical\.[A-Z]' "$f"; then echo "$f"; fi; done)
# shellcheck disable=SC2086
[ -z "$docs" ] || sed -i -f "$sedexpr" $docs

# Imports: drop what is no longer used, group the module's own.
# shellcheck disable=SC2086
$goimports -local "$module" -w $changed canonical
gofmt -l . | grep -v '^tools/' && die "gofmt finds unformatted files" || true

go build ./... && go vet ./...
echo "split-canonical: done; review with git status, then commit"
