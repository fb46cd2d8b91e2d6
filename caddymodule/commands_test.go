package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// runCommand runs one of our commands the way caddycmd wires it (the
// setup function configures a bare cobra command), with stdin given.
func runCommand(t *testing.T, setup func(*cobra.Command), stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := &cobra.Command{Use: "syncserver", SilenceUsage: true, SilenceErrors: true}
	setup(cmd)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	var out, stderr bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&stderr)
	err := cmd.Execute()
	return out.String(), err
}

// runCommandStderr is runCommand that also returns what went to stderr.
func runCommandStderr(t *testing.T, setup func(*cobra.Command), stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := &cobra.Command{Use: "syncserver", SilenceUsage: true, SilenceErrors: true}
	setup(cmd)
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func openSQLite(t *testing.T, dir string, clock func() time.Time) syncstore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func checkPasswordStored(t *testing.T, dir, name, password string) {
	t.Helper()
	u, err := openSQLite(t, dir, nil).LookupUser(context.Background(), name)
	if err != nil {
		t.Fatalf("looking up %s: %v", name, err)
	}
	if ok, _, err := syncstore.VerifyPassword(u.PasswordHash, password); !ok || err != nil {
		t.Errorf("stored hash of %s does not verify %q (%v)", name, password, err)
	}
}

func TestUsersCommands(t *testing.T) {
	dir := t.TempDir()
	alice := syncUsername("alice@example.com")
	users := func(stdin string, args ...string) (string, error) {
		return runCommand(t, setupUsersCommand, stdin, append(args, "--data", dir, "--bcrypt-cost", "4")...)
	}
	noCost := func(stdin string, args ...string) (string, error) {
		return runCommand(t, setupUsersCommand, stdin, append(args, "--data", dir)...)
	}

	out, err := users("correct horse battery\n", "add", "--password-stdin", "--create", "Alice@Example.com")
	if err != nil {
		t.Fatalf("users add: %v", err)
	}
	if want := "created user " + alice + " (Alice@Example.com)\n"; out != want {
		t.Errorf("users add printed %q, want %q", out, want)
	}
	checkPasswordStored(t, dir, alice, "correct horse battery")

	if _, err := users("correct horse battery\n", "add", "--password-stdin", "alice@example.com"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("adding alice twice: %v", err)
	}
	out, err = users("password1\r\n", "add", "--password-stdin", "--email", "carol@example.com", "Carol")
	if err != nil || out != "created user carol (carol@example.com)\n" {
		t.Errorf("adding a plain username: %q, %v", out, err)
	}
	checkPasswordStored(t, dir, "carol", "password1")

	for _, tc := range []struct {
		stdin   string
		args    []string
		wantErr string
	}{
		{"short\n", []string{"add", "--password-stdin", "bob@example.com"}, "too short"},
		{"\n", []string{"add", "--password-stdin", "bob@example.com"}, "empty"},
		{"Dave12345\n", []string{"add", "--password-stdin", "dave12345"}, "must not be the username"},
		{"correct horse battery\n", []string{"add", "bob@example.com"}, "--password-stdin"},
		{"correct horse battery\n", []string{"add", "--password-stdin", "bad name!"}, "neither an e-mail address nor a Sync username"},
		{"correct horse battery\n", []string{"add", "--password-stdin", "--email", "x@example.com", "bob@example.com"}, "--email is for plain usernames"},
		{"correct horse battery\n", []string{"add", "--password-stdin", "--email", "nope", "bob"}, "not an e-mail address"},
		{"", []string{"add"}, "accepts 1 arg"},
		{"", []string{"delete", "ghost"}, "no user ghost"},
		{"", []string{"delete", alice}, "add --yes"},
		{"", []string{"passwd", "--password-stdin", "ghost"}, "no user ghost"},
		{"", []string{"passwd", "--password-stdin", "Ghost@Example.com"}, "no user Ghost@Example.com (Sync username " + syncUsername("ghost@example.com") + ")"},
		{"", []string{"delete", "--yes", "ghost@example.com"}, "no user ghost@example.com"},
		{"", []string{"list", "--limit", "-1"}, "must not be negative"},
		{"", []string{"lsit"}, `unknown command "lsit"`},
	} {
		if _, err := noCost(tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("users %v: %v, want error containing %q", tc.args, err, tc.wantErr)
		}
	}

	out, err = noCost("", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "USERNAME") ||
		!strings.HasPrefix(lines[1], alice) || !strings.Contains(lines[1], "Alice@Example.com") ||
		!strings.HasPrefix(lines[2], "carol") {
		t.Errorf("users list:\n%s", out)
	}
	out, err = noCost("", "list", "--limit", "1", "--after", alice)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "carol") {
		t.Errorf("users list --limit 1 --after alice: %q, %v", out, err)
	}

	out, err = users("a new password\n", "passwd", "--password-stdin", "alice@example.com")
	if err != nil || !strings.Contains(out, "password of "+alice) {
		t.Fatalf("users passwd: %q, %v", out, err)
	}
	checkPasswordStored(t, dir, alice, "a new password")

	out, err = noCost("", "delete", "--yes", "alice@example.com")
	if err != nil || !strings.Contains(out, "deleted user "+alice) {
		t.Fatalf("users delete: %q, %v", out, err)
	}
	if _, err := openSQLite(t, dir, nil).LookupUser(context.Background(), alice); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("alice after delete: %v, want ErrNotFound", err)
	}
}

func TestDatabaseFlags(t *testing.T) {
	t.Setenv(storeopen.DSNEnv, "")
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"list", "--db", "mysql"}, "--db mysql needs --dsn or the SYNCSERVER_MYSQL_DSN environment variable"},
		{[]string{"list", "--db", "postgres"}, `--db "postgres": want sqlite or mysql`},
		{[]string{"list", "--db", "sqlite", "--dsn", "x@tcp(h)/d"}, "--dsn is for --db mysql"},
		{[]string{"list", "--db", "mysql", "--dsn", "x@tcp(h)/d", "--data", "d"}, "--data is for --db sqlite"},
	} {
		if _, err := runCommand(t, setupUsersCommand, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("users %v: %v, want error containing %q", tc.args, err, tc.wantErr)
		}
	}
}

// TestUsersCommandsMySQL: the same commands against MariaDB, with the DSN
// from the environment as the help text recommends.
func TestUsersCommandsMySQL(t *testing.T) {
	t.Setenv(storeopen.DSNEnv, freshMySQLDatabase(t))
	// A database without syncserver's tables is not opened by accident.
	if _, err := runCommand(t, setupUsersCommand, "", "list", "--db", "mysql"); err == nil || !strings.Contains(err.Error(), "has no syncserver tables") {
		t.Fatalf("users list on an empty MySQL database: %v", err)
	}
	out, err := runCommand(t, setupUsersCommand, "correct horse battery\n", "add", "--db", "mysql", "--create", "--password-stdin", "--bcrypt-cost", "4", "gina@example.com")
	if err != nil || !strings.Contains(out, "created user "+syncUsername("gina@example.com")) {
		t.Fatalf("users add on MySQL: %q, %v", out, err)
	}
	// The DSN in the environment selects MySQL without --db, and the
	// command says which database it used.
	out, stderr, err := runCommandStderr(t, setupUsersCommand, "", "list")
	if err != nil || !strings.Contains(out, syncUsername("gina@example.com")+"  gina@example.com") {
		t.Errorf("users list on MySQL: %q, %v", out, err)
	}
	if !strings.Contains(stderr, "database: MySQL database shm_") {
		t.Errorf("users list did not name the database on stderr: %q", stderr)
	}
	// users delete keeps the route row on MySQL too.
	if out, err := runCommand(t, setupUsersCommand, "", "delete", "--yes", "gina@example.com"); err != nil {
		t.Fatalf("users delete on MySQL: %q, %v", out, err)
	}
	s, err := mysqlstore.Open(context.Background(), mysqlstore.Config{DSN: os.Getenv(storeopen.DSNEnv)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.LookupUser(context.Background(), syncUsername("gina@example.com")); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("gina after users delete on MySQL: %v, want ErrNotFound", err)
	}
	if r, err := s.GetRoute(context.Background(), syncUsername("gina@example.com")); err != nil || r.State != syncstore.RouteNative {
		t.Errorf("route after users delete on MySQL: %+v, %v; want it kept", r, err)
	}
}

func TestPurgeCommand(t *testing.T) {
	dir := t.TempDir()
	// Write through a store whose clock is an hour behind, so records with
	// a one-minute TTL have expired by now.
	past := func() time.Time { return time.Now().Add(-time.Hour) }
	s := openSQLite(t, dir, past)
	ctx := context.Background()
	u := &syncstore.User{Name: "purgeuser", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ttl := int64(60)
	payload := "tab"
	recs := []syncstore.WBO{
		{ID: "expired1", Payload: &payload, TTL: &ttl},
		{ID: "expired2", Payload: &payload, TTL: &ttl},
		{ID: "kept", Payload: &payload},
	}
	if _, err := s.PutRecords(ctx, u.ID, "tabs", recs, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	out, err := runCommand(t, setupPurgeCommand, "", "--data", dir)
	if err != nil || out != "deleted 2 expired records\n" {
		t.Fatalf("purge: %q, %v", out, err)
	}
	out, err = runCommand(t, setupPurgeCommand, "", "--data", dir)
	if err != nil || out != "deleted 0 expired records\n" {
		t.Errorf("second purge: %q, %v", out, err)
	}
	if _, err := runCommand(t, setupPurgeCommand, "", "--data", dir, "extra"); err == nil {
		t.Error("purge with an argument: no error")
	}
}

// Operator commands open an existing database or fail naming it: a typo
// in --data, or a forgotten --db, must not yield a fresh empty database.
func TestCommandsNeedAnExistingDatabase(t *testing.T) {
	t.Setenv(storeopen.DSNEnv, "")
	dir := filepath.Join(t.TempDir(), "typo")
	want := filepath.Join(dir, sqlitestore.DBFile)
	for _, tc := range []struct {
		setup func(*cobra.Command)
		args  []string
	}{
		{setupUsersCommand, []string{"list"}},
		{setupUsersCommand, []string{"delete", "--yes", "alice@example.com"}},
		{setupRoutesCommand, []string{"status"}},
		{setupPurgeCommand, nil},
	} {
		_, err := runCommand(t, tc.setup, "", append(tc.args, "--data", dir)...)
		if err == nil || !strings.Contains(err.Error(), want+" does not exist") || !strings.Contains(err.Error(), "--create") {
			t.Errorf("%v on a missing database: %v, want an error naming %s", tc.args, err, want)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("a command created %s: %v", dir, err)
	}
}

// users delete deletes the account and its data but keeps the route row,
// as a client's own delete does: a migrated user whose row went would be
// served from the default state, legacy, where the old copy of the
// account may still be (old password, old data).
func TestUsersDeleteKeepsRouteRow(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	bob := syncUsername("bob@example.com")
	if _, err := runCommand(t, setupUsersCommand, "correct horse battery\n", "add", "--create", "--password-stdin", "--bcrypt-cost", "4", "--data", dir, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	s := openSQLite(t, dir, nil)
	// Bob came from legacy node1 (what a migrate flip leaves).
	migrated := syncstore.Route{Username: bob, State: syncstore.RouteNative, Node: "node1"}
	if err := s.(routeTable).SetRoute(ctx, migrated); err != nil {
		t.Fatal(err)
	}
	out, err := runCommand(t, setupUsersCommand, "", "delete", "--yes", "--data", dir, "bob@example.com")
	if err != nil || !strings.Contains(out, "deleted user "+bob) || !strings.Contains(out, "its route row (native (node node1)) is kept") {
		t.Fatalf("users delete: %q, %v", out, err)
	}
	if _, err := s.LookupUser(ctx, bob); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("bob after delete: %v, want ErrNotFound", err)
	}
	if r, err := s.(routeTable).GetRoute(ctx, bob); err != nil || r.State != syncstore.RouteNative || r.Node != "node1" {
		t.Errorf("route of bob after delete: %+v, %v; want it kept, native", r, err)
	}
	// Deleted once: a second delete finds no user.
	if _, err := runCommand(t, setupUsersCommand, "", "delete", "--yes", "--data", dir, "bob@example.com"); err == nil || !strings.Contains(err.Error(), "no user bob@example.com") {
		t.Errorf("second users delete: %v, want no user", err)
	}
}

func TestCommandHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{{"add", "--help"}, {"list", "--help"}, {"delete", "--help"}, {"passwd", "--help"}, {"--help"}} {
		out, err := runCommand(t, setupUsersCommand, "", args...)
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "syncserver users") {
			t.Errorf("users %v: help without examples (%v):\n%s", args, err, out)
		}
	}
}

// TestCommandsConfigErrors: a --config the commands cannot use is an
// error naming the file and the problem, never a quiet fall back to the
// flags' default database or a Caddyfile parser's confusion over JSON.
func TestCommandsConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A database at the flags' default, which a wrong --config must not reach.
	t.Chdir(dir)
	if _, err := runCommand(t, setupUsersCommand, "", "list", "--create"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, body string
		want             []string
	}{
		{"no firefox_sync handler", "other.Caddyfile", "http://127.0.0.1:1 {\n\trespond ok\n}\n",
			[]string{"other.Caddyfile", "has no firefox_sync handler"}},
		{"broken JSON", "broken.json", "{\"apps\": {\"http\":\n",
			[]string{"broken.json", "not valid JSON", "line 2"}},
		{"broken JSON without the extension", "config", "{\n  \"apps\": {,\n}\n",
			[]string{"config", "not valid JSON", "line 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := write(tc.file, tc.body)
			for _, setup := range []func(*cobra.Command){setupUsersCommand, setupRoutesCommand, setupPurgeCommand} {
				args := []string{"list", "--config", cfg}
				if reflect.ValueOf(setup).Pointer() == reflect.ValueOf(setupPurgeCommand).Pointer() {
					args = args[1:]
				}
				_, err := runCommand(t, setup, "", args...)
				if err == nil {
					t.Fatalf("%v: no error", args)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%v: error %q does not contain %q", args, err, w)
					}
				}
			}
		})
	}
}
