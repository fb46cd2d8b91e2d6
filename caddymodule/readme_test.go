package caddymodule

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/memcache"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

const readmePath = "../README.md"

// readmeTables returns the rows of the README's tables by section.
func readmeTables(t *testing.T) map[string][][]string {
	t.Helper()
	return markdownTables(t, readmePath)
}

// markdownTables returns the rows of the tables under each heading of a
// Markdown file (keyed by the heading's text without the #s), each row as
// its trimmed cells, header and separator rows left out.
func markdownTables(t *testing.T, path string) map[string][][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string][][]string{}
	section := ""
	header := false
	for line := range strings.Lines(string(b)) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "#") {
			section = strings.TrimSpace(strings.TrimLeft(line, "#"))
			continue
		}
		if !strings.HasPrefix(line, "|") {
			header = true // the next table starts with its header
			continue
		}
		if header {
			header = false
			continue
		}
		if strings.HasPrefix(line, "|---") {
			continue
		}
		// Cells are separated by " | "; a "\|" inside a cell is text.
		inner := strings.ReplaceAll(strings.Trim(line, "|"), `\|`, "\x00")
		var cells []string
		for c := range strings.SplitSeq(inner, "|") {
			cells = append(cells, strings.TrimSpace(strings.ReplaceAll(c, "\x00", "|")))
		}
		tables[section] = append(tables[section], cells)
	}
	return tables
}

// rowKey is the first `code` of a row's first cell: the subdirective as
// written ("max_post_bytes <size>").
func rowKey(cell string) string {
	_, rest, ok := strings.Cut(cell, "`")
	if !ok {
		return ""
	}
	key, _, _ := strings.Cut(rest, "`")
	return key
}

// findRow returns the row whose subdirective is name (followed by
// arguments or nothing).
func findRow(rows [][]string, name string) []string {
	for _, r := range rows {
		k := rowKey(r[0])
		if k == name || strings.HasPrefix(k, name+" ") {
			return r
		}
	}
	return nil
}

// Ways the README writes a default.
func sizeText(n int64) []string {
	alts := []string{strconv.FormatInt(n, 10)}
	switch {
	case n > 0 && n%(1<<20) == 0:
		alts = append(alts, strconv.FormatInt(n>>20, 10)+"MiB")
	case n > 0 && n%(1<<10) == 0:
		alts = append(alts, strconv.FormatInt(n>>10, 10)+"KiB")
	}
	return alts
}

func durationText(d time.Duration) []string {
	s := d.String()
	s = strings.TrimSuffix(s, "m0s") + map[bool]string{true: "m"}[strings.HasSuffix(s, "m0s")]
	s = strings.TrimSuffix(s, "h0m") + map[bool]string{true: "h"}[strings.HasSuffix(s, "h0m")]
	return []string{s}
}

func intText(n int) []string { return []string{strconv.Itoa(n)} }

// TestREADMEDefaults checks the Default column of the README's
// configuration tables against the defaults the code applies, so that the
// README cannot drift from them. A default changed in the code fails here
// until the README says the same.
func TestREADMEDefaults(t *testing.T) {
	tables := readmeTables(t)
	var zero Handler
	for _, tc := range []struct {
		section string
		name    string
		// Every group must appear in the Default cell, in one of its forms.
		want [][]string
	}{
		{"Configuration", "database sqlite", [][]string{{zero.database().driver()}, {zero.database().dir()}}},
		{"Configuration", "max_open_conns", [][]string{intText(mysqlstore.DefaultMaxOpenConns)}},
		{"Configuration", "max_idle_conns", [][]string{intText(mysqlstore.DefaultMaxIdleConns)}},
		{"Configuration", "conn_max_lifetime", [][]string{durationText(mysqlstore.DefaultConnMaxLifetime)}},
		{"Configuration", "memcached", [][]string{{"off"}}},
		{"Configuration", "prefix", [][]string{{memcache.DefaultPrefix}}},
		{"Configuration", "ttl", [][]string{durationText(memcache.DefaultTTL)}},
		{"Configuration", "timeout", [][]string{durationText(memcache.DefaultTimeout)}},
		{"Configuration", "registration", [][]string{{zero.registration()}}},
		{"Configuration", "quota", [][]string{sizeText(zero.quotaBytes())}},
		{"Configuration", "max_post_records", [][]string{intText(httpapi.DefaultMaxPostRecords)}},
		{"Configuration", "max_post_bytes", [][]string{sizeText(httpapi.DefaultMaxPostBytes)}},
		{"Configuration", "max_payload_bytes", [][]string{sizeText(httpapi.DefaultMaxPayloadBytes)}},
		{"Configuration", "max_request_bytes", [][]string{sizeText(httpapi.DefaultMaxRequestBytes)}},
		{"Configuration", "body_budget_bytes", [][]string{sizeText(httpapi.DefaultBodyBudgetBytes)}},
		{"Configuration", "body_wait", [][]string{durationText(httpapi.DefaultBodyWait)}},
		{"Configuration", "retry_after", [][]string{durationText(httpapi.DefaultRetryAfter)}},
		{"Configuration", "bcrypt_cost", [][]string{intText(bcrypt.DefaultCost)}},
		{"Configuration", "auth_cache_ttl", [][]string{durationText(syncstore.DefaultCredCacheTTL)}},
		{"Configuration", "auth_cache_size", [][]string{intText(syncstore.DefaultCredCacheSize)}},
		{"Configuration", "per_user", [][]string{intText(httpapi.DefaultThrottlePerUser)}},
		{"Configuration", "per_address", [][]string{intText(httpapi.DefaultThrottlePerAddress)}},
		{"Configuration", "window", [][]string{durationText(httpapi.DefaultThrottleWindow)}},
		{"Configuration", "max_backoff", [][]string{durationText(httpapi.DefaultThrottleMaxBackoff)}},
		{"Configuration", "max_entries", [][]string{intText(httpapi.DefaultThrottleMaxEntries)}},
		{"Configuration", "purge_interval", [][]string{durationText(zero.purgeInterval())}},
		{"Migrating from a PHP server", "default_state", [][]string{{string(shim.DefaultRouteState)}}},
		{"Migrating from a PHP server", "new_users", [][]string{{shim.NewUsersNative}}},
		{"Migrating from a PHP server", "route_cache_ttl", [][]string{durationText(shim.DefaultRouteCacheTTL)}},
		{"Migrating from a PHP server", "timeout", [][]string{durationText(shim.DefaultLegacyTimeout)}},
		{"Migrating from a PHP server", "retry_after", [][]string{durationText(shim.DefaultLegacyRetryAfter)}},
		{"Migrating from a PHP server", "migrating_retry_after", [][]string{durationText(shim.DefaultMigratingRetryAfter)}},
		{"Migrating from a PHP server", "stats_interval", [][]string{durationText(shim.DefaultRouteStatsInterval)}},
	} {
		rows, ok := tables[tc.section]
		if !ok {
			t.Fatalf("README has no section %q with a table", tc.section)
		}
		row := findRow(rows, tc.name)
		if len(row) < 2 {
			t.Errorf("README section %q: no row for %s", tc.section, tc.name)
			continue
		}
		cell := row[1]
		for _, alts := range tc.want {
			if !slices.ContainsFunc(alts, func(a string) bool { return strings.Contains(cell, a) }) {
				t.Errorf("README section %q: %s defaults to %q, the code to %s", tc.section, tc.name, cell, strings.Join(alts, " or "))
			}
		}
	}
}

// TestREADMEDocumentsEveryField checks that every JSON field of the
// firefox_sync module (and of its nested blocks) is named in the README,
// so that a new setting cannot ship undocumented.
func TestREADMEDocumentsEveryField(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() != reflect.TypeFor[Handler]().PkgPath() {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			if !strings.Contains(readme, "`"+name) && !strings.Contains(readme, "."+name+"`") {
				t.Errorf("README does not document %s%s", path, name)
			}
			walk(f.Type, path+name+".")
		}
	}
	walk(reflect.TypeFor[Handler](), "firefox_sync ")
}

// weaveCodes returns the Weave error codes syncstore/httpapi defines (the
// err* integer constants of respond.go), the ones it can send.
func weaveCodes(t *testing.T) map[int]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "../syncstore/httpapi/respond.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[int]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || len(vs.Values) != 1 || !strings.HasPrefix(vs.Names[0].Name, "err") {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		if !ok || lit.Kind != token.INT {
			return true
		}
		n2, err := strconv.Atoi(lit.Value)
		if err != nil {
			t.Fatalf("%s = %s: %v", vs.Names[0].Name, lit.Value, err)
		}
		codes[n2] = vs.Names[0].Name
		return true
	})
	if len(codes) == 0 {
		t.Fatal("no err* code constants found in syncstore/httpapi/respond.go")
	}
	return codes
}

// TestREADMEErrorCodes checks the tables of Weave error codes in the
// README and in docs/protocol.md against the codes the protocol handler
// defines: every code it can send is listed with when it is sent, and
// every code listed as never sent is one it does not define.
func TestREADMEErrorCodes(t *testing.T) {
	defined := weaveCodes(t)
	for _, doc := range []struct{ path, section string }{
		{readmePath, "Errors clients see"},
		{"../docs/protocol.md", "7.1 Weave error codes"},
	} {
		rows := markdownTables(t, doc.path)[doc.section]
		if len(rows) == 0 {
			t.Errorf("%s has no %q table", doc.path, doc.section)
			continue
		}
		checkErrorTable(t, doc.path, rows, defined)
	}
}

func checkErrorTable(t *testing.T, doc string, rows [][]string, defined map[int]string) {
	t.Helper()
	listed := map[int]bool{}
	for _, r := range rows {
		code, err := strconv.Atoi(r[0])
		if err != nil || len(r) < 3 {
			t.Errorf("%s: error table row %q: want | code | meaning | when |", doc, r)
			continue
		}
		listed[code] = true
		never := strings.HasPrefix(r[2], "never")
		switch _, ok := defined[code]; {
		case ok && never:
			t.Errorf("%s says code %d is never sent, but httpapi defines %s", doc, code, defined[code])
		case !ok && !never:
			t.Errorf("%s says when code %d is sent, but httpapi defines no such code", doc, code)
		}
	}
	for code, name := range defined {
		if !listed[code] {
			t.Errorf("code %d (%s) is missing from the error table of %s", code, name, doc)
		}
	}
	for code := 1; code <= 17; code++ {
		if !listed[code] {
			t.Errorf("Weave code %d is missing from the error table of %s", code, doc)
		}
	}
}
