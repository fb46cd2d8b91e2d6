package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// parseOptions binds the bench's flags and parses args, with env as the
// environment.
func parseOptions(t *testing.T, env map[string]string, args ...string) *Options {
	t.Helper()
	o := NewOptions()
	f := pflag.NewFlagSet("bench", pflag.ContinueOnError)
	o.Bind(f)
	if err := f.Parse(args); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	o.getenv = func(k string) string { return env[k] }
	return o
}

// openAll opens every --direct database as Run does and closes them.
func openAll(t *testing.T, o *Options) (string, error) {
	t.Helper()
	if err := o.checkDirect(); err != nil {
		return "", err
	}
	var log bytes.Buffer
	for _, d := range o.direct {
		_, st, err := o.openDirect(context.Background(), d, &log)
		if err != nil {
			return log.String(), err
		}
		if _, err := st.CollectionCounts(context.Background(), 1); err != nil {
			t.Errorf("%s: store not usable: %v", d, err)
		}
		st.Close()
	}
	return log.String(), nil
}

// TestDirectOpensThroughStoreopen: --direct NAME opens the database that
// --db, --data and --dsn describe (as the server's commands do, with
// $SYNCSERVER_MYSQL_DSN selecting MySQL), and the inline NAME=driver:LOCATION
// form the same way; a missing database is an error naming it unless
// --create, and database flags nothing reads are refused.
func TestDirectOpensThroughStoreopen(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, sqlitestore.DBFile)
	missing := filepath.Join(t.TempDir(), "typo")
	noEnv := map[string]string{}

	if _, err := openAll(t, parseOptions(t, noEnv, "--direct", "sqlite", "--data", dir)); err == nil ||
		!strings.Contains(err.Error(), "--direct sqlite: no database: "+db+" does not exist") || !strings.Contains(err.Error(), "--create") {
		t.Errorf("missing database: %v", err)
	}
	log, err := openAll(t, parseOptions(t, noEnv, "--direct", "sqlite", "--data", dir, "--create"))
	if err != nil || !strings.Contains(log, "database: SQLite database "+db) {
		t.Fatalf("--create: %v\n%s", err, log)
	}
	// Now it exists, as a running server's would.
	if log, err := openAll(t, parseOptions(t, noEnv, "--direct", "sqlite", "--data", dir)); err != nil || !strings.Contains(log, db) {
		t.Errorf("existing database: %v\n%s", err, log)
	}
	if log, err := openAll(t, parseOptions(t, noEnv, "--direct", "a=sqlite:"+dir, "--direct", "b", "--data", dir)); err != nil ||
		!strings.Contains(log, "database of a: SQLite database "+db) {
		t.Errorf("inline and flags: %v\n%s", err, log)
	}
	if _, err := openAll(t, parseOptions(t, noEnv, "--direct", "a=sqlite:"+missing)); err == nil ||
		!strings.Contains(err.Error(), filepath.Join(missing, sqlitestore.DBFile)+" does not exist") {
		t.Errorf("inline, missing: %v", err)
	}
	// $SYNCSERVER_MYSQL_DSN selects MySQL, as for every command.
	env := map[string]string{storeopen.DSNEnv: "root@tcp(127.0.0.1:3306)/bench_no_such_db"}
	if _, err := openAll(t, parseOptions(t, env, "--direct", "mysql")); err == nil || !strings.Contains(err.Error(), "MySQL database bench_no_such_db") {
		t.Errorf("MySQL from the environment: %v", err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--direct", "a", "--direct", "b"}, "describe one database"},
		{[]string{"--data", dir}, "--data describes the database of --direct NAME"},
		{[]string{"--direct", "a=sqlite:" + dir, "--db", "mysql"}, "--db describes the database of --direct NAME"},
		{[]string{"--direct", "a=pg:x"}, `unknown driver "pg"`},
		{[]string{"--direct", "a=sqlite"}, "want NAME=sqlite:DIR or NAME=mysql:DSN"},
		{[]string{"--direct", "=sqlite:x"}, "want NAME"},
		{[]string{"--direct", "a", "--db", "pg"}, `--db "pg": want sqlite or mysql`},
	} {
		if _, err := openAll(t, parseOptions(t, noEnv, tc.args...)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}
