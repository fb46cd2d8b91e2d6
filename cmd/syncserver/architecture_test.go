package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The repository root, seen from this package's directory (go test runs
// a package's tests in its own directory).
var repoRoot = filepath.Join("..", "..")

// codeRef matches the hops of ARCHITECTURE.md: path/file.go, optionally
// followed by :Function, :Type or :Type.Method.
var codeRef = regexp.MustCompile(`([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*\.go)(?::([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?))?`)

func readArchitecture(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repoRoot, "ARCHITECTURE.md"))
	if err != nil {
		t.Fatalf("reading ARCHITECTURE.md: %v", err)
	}
	return string(doc)
}

// TestArchitectureReferences keeps the walks of ARCHITECTURE.md true to
// the code: every file it names exists, and every function, method or
// type it names after the file is declared in that file.
func TestArchitectureReferences(t *testing.T) {
	doc := readArchitecture(t)
	refs := codeRef.FindAllStringSubmatch(doc, -1)
	// The walks alone hold well over a hundred hops; a handful means the
	// pattern no longer matches how the page writes them.
	if len(refs) < 100 {
		t.Fatalf("ARCHITECTURE.md: only %d file references found", len(refs))
	}
	declared := map[string]map[string]bool{}
	named := 0
	for _, m := range refs {
		file, name := m[1], m[2]
		if file != path.Clean(file) || path.IsAbs(file) || strings.HasPrefix(file, "../") {
			t.Errorf("ARCHITECTURE.md: %q is not a clean path from the repository root", file)
			continue
		}
		names, seen := declared[file]
		if !seen {
			var err error
			names, err = declaredNames(filepath.Join(repoRoot, filepath.FromSlash(file)))
			if err != nil {
				t.Errorf("ARCHITECTURE.md names %s: %v", file, err)
			}
			declared[file] = names
		}
		if name == "" || names == nil {
			continue
		}
		named++
		if !names[name] {
			t.Errorf("ARCHITECTURE.md names %s:%s, which %s does not declare", file, name, file)
		}
	}
	if named < 80 {
		t.Errorf("ARCHITECTURE.md: only %d references name a function, method or type", named)
	}
}

// declaredNames lists what a Go file declares at top level: functions,
// methods as Type.Method, types, variables and constants.
func declaredNames(file string) (map[string]bool, error) {
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || len(d.Recv.List) == 0 {
				names[d.Name.Name] = true
				continue
			}
			names[receiverType(d.Recv.List[0].Type)+"."+d.Name.Name] = true
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names[s.Name.Name] = true
				case *ast.ValueSpec:
					for _, n := range s.Names {
						names[n.Name] = true
					}
				}
			}
		}
	}
	return names, nil
}

// receiverType is the type name of a method receiver: T for T, *T, T[P]
// and *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return fmt.Sprintf("%T", e)
		}
	}
}

// TestArchitecturePackageMap keeps the package map complete: it lists
// every package of the module, and nothing else.
func TestArchitecturePackageMap(t *testing.T) {
	doc := readArchitecture(t)
	_, after, ok := strings.Cut(doc, "\n## Package map\n")
	if !ok {
		t.Fatal(`ARCHITECTURE.md has no "## Package map" section`)
	}
	// The list ends at the next heading ("### Import direction").
	section, _, _ := strings.Cut(after, "\n#")
	entry := regexp.MustCompile("(?m)^- `([^`]+)`")
	var mapped []string
	for _, m := range entry.FindAllStringSubmatch(section, -1) {
		mapped = append(mapped, m[1])
	}
	slices.Sort(mapped)

	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, dir := range strings.Fields(goList(t, "-f", "{{.Dir}}", "./...")) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, filepath.ToSlash(rel))
	}
	slices.Sort(listed)
	if len(listed) < 10 {
		t.Fatalf("go list ./... listed only %q", listed)
	}
	for _, p := range listed {
		if _, found := slices.BinarySearch(mapped, p); !found {
			t.Errorf("package %s is missing from ARCHITECTURE.md's package map", p)
		}
	}
	for _, p := range mapped {
		if _, found := slices.BinarySearch(listed, p); !found {
			t.Errorf("ARCHITECTURE.md's package map lists %s, which is not a package of the module", p)
		}
	}
}

// TestArchitectureImports holds the import rules ARCHITECTURE.md states
// against go list's transitive dependencies of each package.
func TestArchitectureImports(t *testing.T) {
	mod := strings.TrimSpace(goList(t, "-m"))
	rules := []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{"caddymodule", []string{mod + "/migrate"}, "caddymodule and migrate are siblings over syncstore"},
		{"migrate/migratecmd", []string{mod + "/caddymodule"}, "caddymodule and migrate are siblings over syncstore"},
		{"bench", []string{mod + "/caddymodule", mod + "/bench/local", mod + "/migrate/legacytest"}, "bench talks to the public HTTP API, not to the Caddy glue"},
		{"syncstore/httpapi", []string{"github.com/caddyserver/caddy", "github.com/go-sql-driver/mysql", "modernc.org/sqlite"}, "the protocol layer imports neither Caddy nor a SQL driver"},
		{"migrate", []string{mod + "/caddymodule", mod + "/syncstore/sqlstore", mod + "/syncstore/sqlitestore", mod + "/syncstore/mysqlstore", mod + "/syncstore/storeopen"}, "the migrator reaches the native side through the syncstore interfaces only"},
	}
	args := []string{"-f", "{{.ImportPath}} {{join .Deps \" \"}}"}
	for _, r := range rules {
		args = append(args, "./"+r.pkg)
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(goList(t, args...)), "\n") {
		f := strings.Fields(line)
		deps[strings.TrimPrefix(f[0], mod+"/")] = f[1:]
	}
	for _, r := range rules {
		d, ok := deps[r.pkg]
		if !ok || len(d) == 0 {
			t.Errorf("go list gave no dependencies of %s", r.pkg)
			continue
		}
		for _, p := range d {
			for _, bad := range r.forbidden {
				if p == bad || strings.HasPrefix(p, bad+"/") {
					t.Errorf("%s depends on %s, but %s", r.pkg, p, r.why)
				}
			}
		}
	}
}

// goList runs go list in the repository root.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the module's packages: %v", err)
	}
	cmd := exec.Command(gobin, append([]string{"list"}, args...)...)
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
