package caddymodule

import (
	"fmt"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// freshMySQLDatabase creates an empty database named shm_<random>, drops
// it when the test ends, and returns its DSN.
func freshMySQLDatabase(t *testing.T) string {
	t.Helper()
	return testservices.NewMySQLDatabase(t, "shm_")
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
