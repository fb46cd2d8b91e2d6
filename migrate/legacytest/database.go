package legacytest

import (
	"context"
	"database/sql"
	"strings"

	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TB is the part of testing.TB the helpers use (testservices.TB): the
// package stays free of the testing package, since the FSyncMS stand-in is
// also linked into syncserver-benchlocal, a program rather than a test.
type TB = testservices.TB

// DSN returns the DSN of database name on the test server.
func DSN(t TB, name string) string {
	t.Helper()
	cfg := testservices.MySQLServer(t)
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
	cfg, err := mysql.ParseDSN(testservices.NewMySQLDatabaseCharset(t, prefix, charset))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("mysql", DSN(t, cfg.DBName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // before the drop
	return cfg.DBName, db
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
