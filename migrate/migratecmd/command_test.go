package migratecmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
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
	common := []string{"--legacy-dsn", dsn, "--native-dir", dir, "--drain", "10ms", "--lease", "5s"}

	out, err := execute(t, append([]string{"--all", "--concurrency", "2"}, common...)...)
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
		{"bad DSN", []string{"--legacy-dsn", "root:hunter2@tcp(127.0.0.1:3306", "--native-dir", dir, "alice"}, "legacy DSN"},
		{"missing tables", []string{"--legacy-dsn", legacytest.DSN(t, emptyName), "--native-dir", dir, "alice"}, "no legacy Sync tables"},
		{"unknown user", []string{"--legacy-dsn", dsn, "--native-dir", dir, "--route-cache-bound", "1ms", "nobody"}, "1 of 1 users failed"},
		{"bad variant", []string{"--legacy-dsn", dsn, "--native-dir", dir, "--variant", "oracle", "alice"}, "unknown legacy variant"},
		{"bad driver", []string{"--legacy-dsn", dsn, "--native-driver", "pg", "alice"}, "unknown --native-driver"},
	} {
		out, err := execute(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error()+out, "hunter2") {
			t.Errorf("%s: err %v, want %q\n%s", tc.name, err, tc.want, out)
		}
		if tc.name == "unknown user" && !strings.Contains(out, "unknown user") {
			t.Errorf("unknown user: the summary does not say why:\n%s", out)
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
