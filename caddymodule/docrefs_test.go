package caddymodule

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The reference documents code comments and help texts cite as
// "docs/protocol.md §6.8" or "docs/legacy.md §1.2".
var citedDocs = []string{"docs/protocol.md", "docs/legacy.md"}

var (
	// docCitation finds, in order, a document's name, a section sign with
	// its number, or an RFC's section (which is not ours to check).
	docCitation = regexp.MustCompile(`docs/(?:protocol|legacy)\.md|RFC \d+ §[\d.]+|§(\d+(?:\.\d+)*)`)
	// The developers' reference outside the repository: citing it leaves
	// a reader of the repository with nothing to check.
	externalSpec = regexp.MustCompile(`\b(PROTOCOL|LEGACY)\.md\b`)
	headingNum   = regexp.MustCompile(`^#+\s+(\d+(?:\.\d+)*)\.?\s`)
	listItemNum  = regexp.MustCompile(`^(\d+)\.\s`)
)

// docSections returns the section numbers of a Markdown document: the
// numbers its headings start with ("### 6.5 GET …" is 6.5), and the
// numbered list items under a heading ("25." under "## 11." is 11.25).
func docSections(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the cited document is missing: %v", err)
	}
	defer f.Close()
	sections := map[string]bool{}
	current := ""
	inFence := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		if m := headingNum.FindStringSubmatch(line); m != nil {
			current = m[1]
			sections[current] = true
			continue
		}
		if m := listItemNum.FindStringSubmatch(line); m != nil && current != "" {
			sections[current+"."+m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(sections) == 0 {
		t.Fatalf("%s has no numbered headings", path)
	}
	return sections
}

// TestDocReferencesResolve checks that every section a Go file or
// template cites exists in docs/, so a reader of the repository can look
// up each decision the code follows. A bare "§N" belongs to the document
// named last before it in the same file (docs/protocol.md in Go files that
// name none); Markdown files outside docs/ are checked only after they name
// a document.
func TestDocReferencesResolve(t *testing.T) {
	root := ".."
	sections := map[string]map[string]bool{}
	for _, d := range citedDocs {
		sections[d] = docSections(t, filepath.Join(root, filepath.FromSlash(d)))
	}
	checked := 0
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, root+string(filepath.Separator)))
		if e.IsDir() {
			switch e.Name() {
			case ".git", "bin", "testdata", "bench-out", "data":
				return filepath.SkipDir
			}
			if rel == "docs" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(path)
		if ext != ".go" && ext != ".tmpl" && ext != ".md" {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := string(b)
		for _, m := range externalSpec.FindAllStringIndex(text, -1) {
			t.Errorf("%s:%d cites %s, which is not in the repository: cite docs/%s",
				rel, lineOf(text, m[0]), text[m[0]:m[1]], strings.ToLower(text[m[0]:m[1]]))
		}
		current := ""
		if ext != ".md" {
			current = "docs/protocol.md"
		}
		for _, m := range docCitation.FindAllStringSubmatchIndex(text, -1) {
			match := text[m[0]:m[1]]
			switch {
			case strings.HasPrefix(match, "docs/"):
				current = match
			case strings.HasPrefix(match, "RFC "):
			case current != "":
				num := strings.TrimSuffix(text[m[2]:m[3]], ".")
				checked++
				if !sections[current][num] {
					t.Errorf("%s:%d cites %s §%s, which has no such section", rel, lineOf(text, m[0]), current, num)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no section references found: is the walk looking at the repository?")
	}
}

func lineOf(text string, offset int) int {
	return strings.Count(text[:offset], "\n") + 1
}
