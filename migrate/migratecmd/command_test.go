package migratecmd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// execute runs `syncserver migrate args…` as the binary would.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	c, ok := caddycmd.Commands()["migrate"]
	if !ok {
		t.Fatal("migrate is not registered")
	}
	cmd := &cobra.Command{Use: c.Name, Short: c.Short}
	c.CobraFunc(cmd)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func legacyFixture(t *testing.T, l legacytest.Layout) (string, []legacytest.User) {
	t.Helper()
	ctx := context.Background()
	name, db := legacytest.NewDatabase(t, "mig_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	users := legacytest.Generate(3, l, legacytest.Spec{Users: 4, Records: []int{200, 50}, BcryptCost: 4})
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	return legacytest.DSN(t, name), users
}

func TestCommandMigrateStatusRollback(t *testing.T) {
	dsn, users := legacyFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS})
	dir := t.TempDir()
	common := []string{"--legacy-dsn", dsn, "--data", dir, "--drain", "10ms", "--lease", "5s"}

	out, err := execute(t, append([]string{"--all", "--concurrency", "2", "--create"}, common...)...)
	if err != nil {
		t.Fatalf("migrate --all: %v\n%s", err, out)
	}
	if !strings.Contains(out, "migrated  4") || !strings.Contains(out, "unavailability window") {
		t.Errorf("summary:\n%s", out)
	}
	out, err = execute(t, append([]string{"status"}, common...)...)
	if err != nil || !strings.Contains(out, "native     4") {
		t.Errorf("status: %v\n%s", err, out)
	}
	// Scripts written for the old flag name keep working.
	old := []string{"--legacy-dsn", dsn, "--native-dir", dir, "--route-cache-bound", "10ms", "--lease", "5s"}
	out, err = execute(t, append([]string{"rollback", strings.ToUpper(users[0].Name)}, old...)...)
	if err != nil || !strings.Contains(out, "rolled back  1") {
		t.Errorf("rollback: %v\n%s", err, out)
	}
	out, err = execute(t, append([]string{"status"}, common...)...)
	if err != nil || !strings.Contains(out, "legacy     1") || !strings.Contains(out, "native     3") {
		t.Errorf("status after rollback: %v\n%s", err, out)
	}
}

func TestCommandErrors(t *testing.T) {
	dsn, _ := legacyFixture(t, legacytest.Layout{Variant: legacytest.Mozilla})
	dir := t.TempDir()
	emptyName, _ := legacytest.NewDatabase(t, "mig_", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing selected", []string{"--legacy-dsn", dsn, "--native-dir", dir}, "no users selected"},
		{"no native database", []string{"--legacy-dsn", dsn, "--data", dir, "alice"}, "does not exist"},
		{"bad DSN", []string{"--legacy-dsn", "root:hunter2@tcp(127.0.0.1:3306", "--native-dir", dir, "alice"}, "legacy DSN"},
		{"missing tables", []string{"--legacy-dsn", legacytest.DSN(t, emptyName), "--native-dir", dir, "alice"}, "no legacy Sync tables"},
		{"unknown user", []string{"--legacy-dsn", dsn, "--native-dir", dir, "--create", "--route-cache-bound", "1ms", "nobody"}, "no user nobody: not in the legacy database"},
		{"bad variant", []string{"--legacy-dsn", dsn, "--native-dir", dir, "--variant", "oracle", "alice"}, "unknown legacy variant"},
		{"bad driver", []string{"--legacy-dsn", dsn, "--native-driver", "pg", "alice"}, `--db "pg": want sqlite or mysql`},
	} {
		out, err := execute(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error()+out, "hunter2") {
			t.Errorf("%s: err %v, want %q\n%s", tc.name, err, tc.want, out)
		}
		// One error style: cobra's plain "Error: …", never a JSON log line.
		if !strings.Contains(out, "Error: ") || strings.Contains(out, `"level"`) {
			t.Errorf("%s: not a plain error line:\n%s", tc.name, out)
		}
	}
}

// TestDrainFlags: --drain defaults to migrate.DefaultDrain; the old
// --route-cache-bound alone sets the wait as it used to; with both the
// longer wins, so neither an old script nor a new flag shortens it.
func TestDrainFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
	}{
		{nil, migrate.DefaultDrain},
		{[]string{"--drain", "300ms"}, 300 * time.Millisecond},
		{[]string{"--route-cache-bound", "5s"}, 5 * time.Second},
		{[]string{"--route-cache-bound", "10ms"}, 10 * time.Millisecond},
		{[]string{"--route-cache-bound", "5s", "--drain", "2s"}, 5 * time.Second},
		{[]string{"--drain", "2s", "--route-cache-bound", "500ms"}, 2 * time.Second},
	} {
		o := &options{}
		parent := &cobra.Command{Use: "migrate"}
		o.persistentFlags(parent)
		child := &cobra.Command{Use: "rollback"}
		parent.AddCommand(child)
		var got time.Duration
		child.Run = func(cmd *cobra.Command, _ []string) { got = o.drainWait(cmd) }
		parent.SetArgs(append([]string{"rollback"}, tc.args...))
		parent.SetOut(&bytes.Buffer{})
		parent.SetErr(&bytes.Buffer{})
		if err := parent.Execute(); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if got != tc.want {
			t.Errorf("%v: wait %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestCommandNamesUsersByEmail: migrate, rollback and status take an
// e-mail address like every other command; a name that matches nobody,
// or a canary that selects nobody, is an error saying so.
func TestCommandNamesUsersByEmail(t *testing.T) {
	ctx := context.Background()
	l := legacytest.Layout{Variant: legacytest.FSyncMS}
	name, db := legacytest.NewDatabase(t, "mig_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	users := legacytest.Generate(5, l, legacytest.Spec{Users: 3, Records: []int{20}, BcryptCost: 4})
	// Account names as Firefox makes them, none in canary bucket 0.
	emails := []string{}
	for i, n := 0, 0; len(emails) < len(users); n++ {
		e := fmt.Sprintf("user%d@example.com", n)
		if syncstore.Bucket(syncstore.UsernameFromEmail(e)) == 0 {
			continue
		}
		emails = append(emails, e)
		users[i].Name = syncstore.UsernameFromEmail(e)
		i++
	}
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	dsn := legacytest.DSN(t, name)
	dir := t.TempDir()
	common := []string{"--legacy-dsn", dsn, "--data", dir, "--drain", "1ms", "--lease", "5s"}
	run := func(args ...string) (string, error) { return execute(t, append(args, common...)...) }

	if out, err := run("--canary", "1", "--create"); err == nil || !strings.Contains(err.Error(), "canary 1% selected no users out of 3 legacy users") {
		t.Errorf("empty canary: %v\n%s", err, out)
	}
	out, err := run(strings.ToUpper(emails[0]))
	if err != nil || !strings.Contains(out, "migrated  1") {
		t.Fatalf("migrate by e-mail: %v\n%s", err, out)
	}
	out, err = run("rollback", emails[0])
	if err != nil || !strings.Contains(out, "rolled back  1") {
		t.Fatalf("rollback by e-mail: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"nobody@example.com"}, {"rollback", "nobody@example.com"}} {
		out, err := run(args...)
		want := "no user nobody@example.com (Sync username " + syncstore.UsernameFromEmail("nobody@example.com") + ")"
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(out, "already") {
			t.Errorf("%v: %v, want %q\n%s", args, err, want, out)
		}
	}
	// A user never migrated has no native account or row: rolling them
	// back is an error, not "already legacy".
	if out, err := run("rollback", emails[1]); err == nil || !strings.Contains(err.Error(), "neither a native account nor a route row") {
		t.Errorf("rollback of a legacy-only user: %v\n%s", err, out)
	}
}

// TestCommandQuota: users at or above the native quota are listed by
// --dry-run and migrate status, and refused unless --allow-over-quota.
func TestCommandQuota(t *testing.T) {
	dsn, users := legacyFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS})
	dir := t.TempDir()
	common := []string{"--legacy-dsn", dsn, "--data", dir, "--drain", "1ms", "--lease", "5s", "--quota", "1000"}
	run := func(args ...string) (string, error) { return execute(t, append(args, common...)...) }

	out, err := run("--dry-run", "--create", users[0].Name)
	if err != nil || !strings.Contains(out, "1 users at or above the native quota of 1000 B") || !strings.Contains(out, strings.ToLower(users[0].Name)) {
		t.Errorf("dry run: %v\n%s", err, out)
	}
	out, err = run(users[0].Name)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 selected users store at least the native quota of 1000 B") || !strings.Contains(err.Error(), "--allow-over-quota") {
		t.Errorf("over-quota run: %v\n%s", err, out)
	}
	out, err = run("status")
	if err != nil || !strings.Contains(out, "4 users at or above the native quota") {
		t.Errorf("status: %v\n%s", err, out)
	}
	out, err = run("--allow-over-quota", users[0].Name)
	if err != nil || !strings.Contains(out, "migrated  1") {
		t.Errorf("--allow-over-quota: %v\n%s", err, out)
	}
	out, err = run("status")
	if err != nil || !strings.Contains(out, "3 users at or above the native quota") {
		t.Errorf("status after migrating one: %v\n%s", err, out)
	}
	// With the default quota these small users are fine.
	out, err = execute(t, "--dry-run", users[1].Name, "--legacy-dsn", dsn, "--data", dir)
	if err != nil || strings.Contains(out, "at or above") {
		t.Errorf("default quota: %v\n%s", err, out)
	}
}

// TestCommandStatusCountsLegacyUsers: with --legacy-dsn, migrate status
// says how many legacy users there are and where each is routed, those
// without a route row included. routes status cannot count them (they
// have no row), so after putting the shim in front of a PHP server it
// showed 0 legacy users while all of them were served by PHP (found by the
// README's walk-through).
func TestCommandStatusCountsLegacyUsers(t *testing.T) {
	dsn, users := legacyFixture(t, legacytest.Layout{Variant: legacytest.FSyncMS})
	dir := t.TempDir()
	common := []string{"--legacy-dsn", dsn, "--data", dir, "--drain", "10ms", "--lease", "5s"}
	status := func(want string) {
		t.Helper()
		out, err := execute(t, append([]string{"status"}, common...)...)
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("status: %v, want %q in\n%s", err, want, out)
		}
	}
	if out, err := execute(t, append([]string{"--create", users[1].Name}, common...)...); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	status("legacy database: 4 users: 3 without a route row (served as the shim's default_state, legacy unless configured), 0 legacy, 0 migrating, 1 native")
	if out, err := execute(t, append([]string{"rollback", users[1].Name}, common...)...); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	status("legacy database: 4 users: 3 without a route row (served as the shim's default_state, legacy unless configured), 1 legacy, 0 migrating, 0 native")
}

// TestCommandRefusesBadFlags: values that used to be taken silently (a
// negative quota turned the over-quota refusal off, status ignored
// --log-format, a prefix without --memcached did nothing) are errors
// naming the flag.
func TestCommandRefusesBadFlags(t *testing.T) {
	dsn, _ := legacyFixture(t, legacytest.Layout{Variant: legacytest.Mozilla})
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"negative quota", []string{"--legacy-dsn", dsn, "--native-dir", dir, "--create", "--quota", "-1", "alice"}, "--quota -1"},
		{"status log format", []string{"status", "--native-dir", dir, "--create", "--log-format", "xml"}, `--log-format "xml"`},
		{"prefix alone", []string{"--legacy-dsn", dsn, "--native-dir", dir, "--create", "--memcached-prefix", "other:", "alice"}, `--memcached-prefix "other:" goes with --memcached`},
	} {
		out, err := execute(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q\n%s", tc.name, err, tc.want, out)
		}
	}
}

// TestCommandRefusesBrokenConfig: a --config that is broken JSON is
// reported as such, with its line, not as a Caddyfile that confused
// Caddy's adapter.
func TestCommandRefusesBrokenConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ file, body string }{
		{"broken.json", "{\"apps\": {\"http\":\n"},
		{"config", "{\n  \"apps\": {,\n}\n"},
	} {
		path := filepath.Join(dir, tc.file)
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := execute(t, "status", "--config", path)
		if err == nil || !strings.Contains(err.Error(), tc.file+" is not valid JSON") || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: err %v, want it named not valid JSON at line 2\n%s", tc.file, err, out)
		}
	}
}

// TestCommandRefusesBadCanary: --canary outside 1–100 is refused by its
// flag's name before any database is reached (the legacy DSN here points
// at no server).
func TestCommandRefusesBadCanary(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"150", "-1"} {
		out, err := execute(t, "--legacy-dsn", "u:p@tcp(127.0.0.1:1)/x", "--native-dir", dir, "--create", "--canary", n)
		if err == nil || !strings.Contains(err.Error(), "--canary "+n+": want 1 to 100") {
			t.Errorf("--canary %s: err %v, want it refused by name\n%s", n, err, out)
		}
	}
}
