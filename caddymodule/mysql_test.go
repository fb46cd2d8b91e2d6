package caddymodule

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlBaseDSN is the server the MySQL tests use (no database selected).
func mysqlBaseDSN() string {
	if dsn := os.Getenv("SYNCSERVER_TEST_MYSQL"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// freshMySQLDatabase creates an empty database named shm_<random>, drops
// it when the test ends, and returns its DSN.
func freshMySQLDatabase(t *testing.T) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(mysqlBaseDSN())
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
	name := "shm_" + hex.EncodeToString(b[:])
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

// TestMySQLThroughCaddy runs the first sync through Caddy on MariaDB, with
// the DSN taken from the environment by a placeholder as in production.
func TestMySQLThroughCaddy(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	t.Setenv("CAD_TEST_MYSQL_DSN", dsn)
	publicURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	unloadAtEnd(t) // before the drop: cleanups run last-registered first
	initServer(t, siteCaddyfile(fmt.Sprintf(`database mysql {env.CAD_TEST_MYSQL_DSN} {
			max_open_conns 4
			max_idle_conns 2
			conn_max_lifetime 1m
		}
		public_url %s
		registration allowlist erin@example.com`, publicURL)))

	db := Database{Driver: DriverMySQL, DSN: dsn, MaxOpenConns: 4, MaxIdleConns: 2, ConnMaxLifetime: dur(time.Minute)}
	if s, refs := poolEntry(t, db); s == nil || refs != 1 {
		t.Fatalf("MySQL store not pooled under its resolved DSN: %p, %d references", s, refs)
	}

	const email = "erin@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)
	c.firstSync(publicURL)

	// Not on the allowlist.
	frank := newSyncClient(t, "frank@example.com", "correct horse battery")
	r := frank.do("PUT", "/user/1.0/"+frank.user, `{"email":"frank@example.com","password":"correct horse battery"}`, false)
	if r.status != 400 {
		t.Errorf("registration of a user not on the allowlist: %d %q, want 400", r.status, r.body)
	}
}
