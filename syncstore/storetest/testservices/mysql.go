package testservices

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQLEnv names the MariaDB/MySQL server the tests create their databases
// on: a DSN without a database ("user:password@tcp(host:port)/").
const MySQLEnv = "SYNCSERVER_TEST_MYSQL"

// defaultMySQL is what `make services` starts.
const defaultMySQL = "root@tcp(127.0.0.1:3306)/"

// MySQLServerDSN is SYNCSERVER_TEST_MYSQL, or the server make services
// starts.
func MySQLServerDSN() string {
	if dsn := os.Getenv(MySQLEnv); dsn != "" {
		return dsn
	}
	return defaultMySQL
}

// MySQLServer is the configuration of the test server, with no database
// selected. It fails the test if SYNCSERVER_TEST_MYSQL is not a DSN.
func MySQLServer(t TB) *mysql.Config {
	t.Helper()
	dsn := MySQLServerDSN()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s=%q: %v", MySQLEnv, dsn, err)
	}
	cfg.DBName = ""
	return cfg
}

// MySQLAdmin is a pool on the test server with no database selected,
// closed when the test ends. It fails the test when the server does not
// answer: `make services` starts it, and CI runs that first.
func MySQLAdmin(t TB) *sql.DB {
	t.Helper()
	cfg := MySQLServer(t)
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatalf("opening the test MariaDB: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at %s does not answer (make services starts it, or set %s): %v", cfg.Addr, MySQLEnv, err)
	}
	return db
}

// NewMySQLDatabase creates an empty database named prefix + a random
// suffix on the test server, drops it when the test ends, and returns its
// DSN. The prefix tells which package's tests left a database behind if a
// test binary is killed before its cleanups run.
func NewMySQLDatabase(t TB, prefix string) string {
	t.Helper()
	return NewMySQLDatabaseCharset(t, prefix, "")
}

// NewMySQLDatabaseCharset is NewMySQLDatabase with the database's default
// character set ("" = the server's).
func NewMySQLDatabaseCharset(t TB, prefix, charset string) string {
	t.Helper()
	admin := MySQLAdmin(t)
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := prefix + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stmt := "CREATE DATABASE `" + name + "`"
	if charset != "" {
		stmt += " CHARACTER SET " + charset
	}
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("creating test database %s: %v", name, err)
	}
	// Registered after MySQLAdmin's close, so it runs before it.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	cfg := MySQLServer(t)
	cfg.DBName = name
	return cfg.FormatDSN()
}
