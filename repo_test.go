package identitygateway

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestNoReferenceOutsideTheRepository keeps the repository self-contained:
// a reader with nothing but a clone can follow every reference. It fails
// when a file names the design folder that once sat beside the repository,
// a relative path that climbs out of it, a Markdown document that is not in
// it, or a Markdown link to a file that does not exist or to a heading
// anchor (#section) its Markdown target does not have.
func TestNoReferenceOutsideTheRepository(t *testing.T) {
	// Built from pieces so this file does not trip its own check.
	forbidden := []string{"../" + "shared", "DESIGN" + ".md", "DESIGN" + " §", "design" + " card"}
	climb := regexp.MustCompile(`(?:^|[\s"'(=\x60])((?:\.\./)+[A-Za-z0-9_.-][A-Za-z0-9_./-]*)`)
	mdToken := regexp.MustCompile(`[^\s"'(<\x60\[]*\.md\b`)
	mdLink := regexp.MustCompile(`\]\(([^)\s]+)\)`)

	var files []string
	mdNames := map[string]bool{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		p = filepath.ToSlash(p)
		if d.IsDir() {
			if p == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		// The vendors' own API descriptions are third-party text, kept unchanged.
		if strings.HasPrefix(p, "adapters/testdata/vendorspecs/") && path.Ext(p) != ".md" {
			return nil
		}
		if strings.Contains(p, "/testdata/fuzz/") {
			return nil
		}
		files = append(files, p)
		if path.Ext(p) == ".md" {
			mdNames[path.Base(p)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("found only %d files; run from the repository root", len(files))
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			continue // binary
		}
		dir := path.Dir(p)
		for i, line := range strings.Split(string(b), "\n") {
			at := func(format string, args ...any) {
				t.Helper()
				t.Errorf("%s:%d: "+format, append([]any{p, i + 1}, args...)...)
			}
			for _, f := range forbidden {
				if strings.Contains(line, f) {
					at("refers to %q, which is not part of the repository", f)
				}
			}
			for _, sm := range climb.FindAllStringSubmatch(line, -1) {
				m := sm[1]
				if target := path.Join(dir, m); target == ".." || strings.HasPrefix(target, "../") {
					at("path %q leaves the repository", m)
				}
			}
			for _, m := range mdToken.FindAllString(line, -1) {
				if strings.Contains(m, ":") || strings.Contains(m, "\\") || path.Base(m) == ".md" {
					continue // a web page, a file of another repository (owner/repo:path), a pattern
				}
				if !mdNames[path.Base(m)] {
					at("names %s, which is not in the repository", m)
				}
			}
			if path.Ext(p) != ".md" {
				continue
			}
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				target, anchor, _ := strings.Cut(m[1], "#")
				if strings.Contains(target, ":") {
					continue // a web page, a mail address
				}
				full := p
				if target != "" {
					full = path.Join(dir, target)
				}
				if strings.HasPrefix(full, "../") || full == ".." {
					at("link %q leaves the repository", m[1])
					continue
				}
				if _, err := os.Stat(full); err != nil {
					at("link %q: no such file", m[1])
					continue
				}
				if anchor != "" && path.Ext(full) == ".md" && !mdAnchors(t, full)[anchor] {
					at("link %q: %s has no heading with that anchor", m[1], full)
				}
			}
		}
	}
}

// mdAnchors lists the anchors GitHub gives a Markdown file's headings
// (lower-cased, punctuation dropped, blanks as hyphens), fenced code left
// out, so a link to a renamed section fails here rather than on GitHub.
func mdAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		heading := strings.TrimLeft(line, "#")
		if fenced || heading == line || !strings.HasPrefix(heading, " ") {
			continue
		}
		var slug strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
			switch {
			case r == ' ':
				slug.WriteByte('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				slug.WriteRune(r)
			}
		}
		anchors[slug.String()] = true
	}
	return anchors
}
