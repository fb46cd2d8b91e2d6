package storeopen

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestFromFlagsDriverChoice(t *testing.T) {
	const dsn = "u:p@tcp(db:3306)/sync"
	withDSN := env(map[string]string{DSNEnv: dsn})
	for _, tc := range []struct {
		name   string
		args   []string
		getenv func(string) string
		driver string
		err    string
	}{
		{"default sqlite", nil, env(nil), DriverSQLite, ""},
		{"env selects mysql", nil, withDSN, DriverMySQL, ""},
		{"--db sqlite overrides env", []string{"--db", "sqlite"}, withDSN, DriverSQLite, ""},
		{"--data means sqlite", []string{"--data", "/tmp/x"}, withDSN, DriverSQLite, ""},
		{"--dsn means mysql", []string{"--dsn", dsn}, env(nil), DriverMySQL, ""},
		{"mysql without dsn", []string{"--db", "mysql"}, env(nil), "", "needs --dsn or the " + DSNEnv},
		{"dsn with sqlite", []string{"--db", "sqlite", "--dsn", dsn}, env(nil), "", "--dsn is for --db mysql"},
		{"data with mysql", []string{"--db", "mysql", "--data", "d"}, withDSN, "", "--data is for --db sqlite"},
		{"unknown driver", []string{"--db", "postgres"}, env(nil), "", `--db "postgres"`},
	} {
		c, err := FromFlags(flags(t, tc.args...), tc.getenv)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || c.DriverName() != tc.driver {
			t.Errorf("%s: driver %q, %v; want %q", tc.name, c.DriverName(), err, tc.driver)
		}
	}
}

// An operator command must never create a database by accident: a
// missing SQLite file is an error naming it, and nothing is created.
func TestOpenMissingSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	var log bytes.Buffer
	_, _, err := OpenFlags(context.Background(), flags(t, "--data", dir), env(nil), &log)
	want := filepath.Join(dir, sqlitestore.DBFile)
	if !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--create") {
		t.Fatalf("err = %v, want ErrNoDatabase naming %s and --create", err, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the data directory was created: %v", err)
	}

	s, c, err := OpenFlags(context.Background(), flags(t, "--data", dir, "--create"), env(nil), &log)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(log.String(), "database: SQLite database "+want) {
		t.Errorf("log %q does not name the database used", log.String())
	}
	// Now it exists: opened without --create.
	s, _, err = OpenFlags(context.Background(), flags(t, "--data", dir), env(nil), &log)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	s.Close()
	if c.Label() != "SQLite database "+want {
		t.Errorf("Label = %q", c.Label())
	}
}

func TestOpenMySQLNeedsTables(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	ctx := context.Background()
	_, err := Open(ctx, Config{Driver: DriverMySQL, DSN: dsn})
	if !errors.Is(err, ErrNoDatabase) || !strings.Contains(err.Error(), "has no syncserver tables") {
		t.Fatalf("empty database: err = %v, want ErrNoDatabase", err)
	}
	var log bytes.Buffer
	s, _, err := OpenFlags(ctx, flags(t, "--create"), env(map[string]string{DSNEnv: dsn}), &log)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if !strings.Contains(log.String(), "on 127.0.0.1:3306") || strings.Contains(log.String(), "root@") {
		t.Errorf("log %q: want the MySQL address and no credentials", log.String())
	}
	s, err = Open(ctx, Config{Driver: DriverMySQL, DSN: dsn})
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	s.Close()
}

// freshMySQLDatabase creates an empty database on the test MariaDB
// (SYNCSERVER_TEST_MYSQL, default root@127.0.0.1:3306), dropped when the
// test ends, and returns its DSN.
func freshMySQLDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("SYNCSERVER_TEST_MYSQL")
	if base == "" {
		base = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := mysql.ParseDSN(base)
	if err != nil {
		t.Fatalf("SYNCSERVER_TEST_MYSQL: %v", err)
	}
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at %s is not reachable (make services starts it): %v", cfg.Addr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sop_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}
