package legacytest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// TB is the part of testing.TB the helpers use. Declaring it here keeps
// the package free of the testing package: the FSyncMS stand-in is also
// linked into syncserver-benchlocal, a program rather than a test.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
}

// ServerDSN is the DSN of the test MariaDB server without a database.
func ServerDSN() string {
	if v := os.Getenv("SYNCSERVER_TEST_MYSQL"); v != "" {
		return v
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// DSN returns the DSN of database name on the test server.
func DSN(t TB, name string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(ServerDSN())
	if err != nil {
		t.Fatalf("SYNCSERVER_TEST_MYSQL: %v", err)
	}
	cfg.DBName = name
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	return cfg.FormatDSN()
}

// NewDatabase creates an empty database named prefix + random suffix with
// the given default character set ("" = the server's, utf8mb4) and drops
// it when the test ends. It returns the name and a pool connected to it.
func NewDatabase(t TB, prefix, charset string) (string, *sql.DB) {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := prefix + hex.EncodeToString(b[:])
	admin, err := sql.Open("mysql", ServerDSN())
	if err != nil {
		t.Fatalf("opening the test MariaDB: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stmt := "CREATE DATABASE `" + name + "`"
	if charset != "" {
		stmt += " CHARACTER SET " + charset
	}
	if _, err := admin.ExecContext(ctx, stmt); err != nil {
		admin.Close()
		t.Fatalf("creating test database (is MariaDB running at %s?): %v", ServerDSN(), err)
	}
	db, err := sql.Open("mysql", DSN(t, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
		admin.Close()
	})
	return name, db
}

// Exec runs several statements separated by ";" lines.
func Exec(ctx context.Context, db *sql.DB, script string) error {
	for _, stmt := range strings.Split(script, ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}
