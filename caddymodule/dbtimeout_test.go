package caddymodule

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore/deadline"
)

func TestDBTimeoutCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  DBTimeout
	}{
		{"database mysql u:p@tcp(db:3306)/s {\n db_timeout 2s\n}", DBTimeout(2 * time.Second)},
		{"database sqlite /d {\n db_timeout off\n}", DBTimeoutOff},
		{"database sqlite /d", 0},
	} {
		h, err := parseHandler(t, "firefox_sync {\n"+tc.input+"\n}")
		if err != nil {
			t.Fatalf("%q: %v", tc.input, err)
		}
		if h.Database.DBTimeout != tc.want {
			t.Errorf("%q: db_timeout %v, want %v", tc.input, h.Database.DBTimeout, tc.want)
		}
	}
	for _, bad := range []string{"db_timeout", "db_timeout 0", "db_timeout -1s", "db_timeout soon", "db_timeout 1s 2s"} {
		_, err := parseHandler(t, "firefox_sync {\n database sqlite /d {\n  "+bad+"\n }\n}")
		if err == nil {
			t.Errorf("%q: no error", bad)
		} else if !strings.Contains(err.Error(), "db_timeout") && !strings.Contains(err.Error(), "wrong argument count") {
			t.Errorf("%q: error %q does not name db_timeout", bad, err)
		}
	}
}

// The Caddyfile adapter's JSON must load back to the same setting.
func TestDBTimeoutJSON(t *testing.T) {
	for _, in := range []DBTimeout{DBTimeoutOff, DBTimeout(1500 * time.Millisecond), DBTimeout(time.Minute)} {
		b, err := json.Marshal(Database{DBTimeout: in})
		if err != nil {
			t.Fatal(err)
		}
		var out Database
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if out.DBTimeout != in {
			t.Errorf("%s loaded as %v, want %v", b, out.DBTimeout, in)
		}
	}
	if b, _ := json.Marshal(Database{}); strings.Contains(string(b), "db_timeout") {
		t.Errorf("unset db_timeout written as %s", b)
	}
	var d Database
	if err := json.Unmarshal([]byte(`{"db_timeout": 3000000000}`), &d); err != nil || d.timeout() != 3*time.Second {
		t.Errorf("nanoseconds: %v, %v", d.timeout(), err)
	}
	for _, bad := range []string{`"-1s"`, `"later"`, `true`} {
		var d Database
		err := json.Unmarshal([]byte(`{"db_timeout": `+bad+`}`), &d)
		if err == nil || !strings.Contains(err.Error(), "db_timeout") {
			t.Errorf("db_timeout %s: error %v, want one naming db_timeout", bad, err)
		}
	}
	if got := (Database{}).timeout(); got != DefaultDBTimeout {
		t.Errorf("default timeout %s, want %s", got, DefaultDBTimeout)
	}
	if got := (Database{DBTimeout: DBTimeoutOff}).timeout(); got != 0 {
		t.Errorf("off: timeout %s, want 0", got)
	}
}

// The server's MySQL connections get I/O timeouts equal to the deadline
// unless the DSN sets its own; the password and other parameters survive.
func TestDBTimeoutDSN(t *testing.T) {
	const dsn = "sync:p@ss:w0rd@tcp(db:3306)/sync?tls=preferred"
	parse := func(d Database) *mysql.Config {
		t.Helper()
		cfg, err := mysql.ParseDSN(d.forServer().DSN)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := parse(Database{Driver: DriverMySQL, DSN: dsn, DBTimeout: DBTimeout(2 * time.Second)})
	if cfg.ReadTimeout != 2*time.Second || cfg.WriteTimeout != 2*time.Second {
		t.Errorf("I/O timeouts %s/%s, want the 2s deadline", cfg.ReadTimeout, cfg.WriteTimeout)
	}
	if cfg.Passwd != "p@ss:w0rd" || cfg.Addr != "db:3306" || cfg.DBName != "sync" || cfg.TLSConfig != "preferred" {
		t.Errorf("DSN changed beyond its timeouts: %+v", cfg)
	}
	cfg = parse(Database{Driver: DriverMySQL, DSN: dsn + "&readTimeout=9s"})
	if cfg.ReadTimeout != 9*time.Second || cfg.WriteTimeout != DefaultDBTimeout {
		t.Errorf("with readTimeout=9s in the DSN: %s/%s, want 9s/%s", cfg.ReadTimeout, cfg.WriteTimeout, DefaultDBTimeout)
	}
	off := Database{Driver: DriverMySQL, DSN: dsn, DBTimeout: DBTimeoutOff}
	if got := off.forServer().DSN; got != dsn {
		t.Errorf("db_timeout off changed the DSN to %q", got)
	}
	if got := (Database{Driver: DriverMySQL, DSN: "not a dsn"}).forServer().DSN; got != "not a dsn" {
		t.Errorf("an invalid DSN was rewritten to %q", got)
	}
}

// The pooled store the server uses carries the deadline, keeps its route
// table, and db_timeout off leaves it bare.
func TestPooledStoreHasDeadline(t *testing.T) {
	ctx := context.Background()
	for _, d := range []Database{
		{Dir: t.TempDir(), DBTimeout: DBTimeout(3 * time.Second)},
		{Dir: t.TempDir(), DBTimeout: DBTimeoutOff},
	} {
		p, key, _, err := acquireStore(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		wrapped := deadline.Unwrap(p.Store) != p.Store
		if wrapped != (d.timeout() > 0) {
			t.Errorf("db_timeout %v: store %T wrapped = %v", d.DBTimeout, p.Store, wrapped)
		}
		if p.routes == nil {
			t.Errorf("db_timeout %v: the pooled store lost its route table", d.DBTimeout)
		}
		if _, err := releaseStore(key); err != nil {
			t.Fatal(err)
		}
	}
}

// The README's Default column says what DefaultDBTimeout is (as
// TestREADMEDefaults does for the other settings).
func TestREADMEDBTimeoutDefault(t *testing.T) {
	row := findRow(readmeTables(t)["Configuration"], "db_timeout")
	if len(row) < 2 {
		t.Fatal("README section \"Configuration\": no row for db_timeout")
	}
	if want := durationText(DefaultDBTimeout)[0]; !strings.Contains(row[1], want) {
		t.Errorf("README: db_timeout defaults to %q, the code to %s", row[1], want)
	}
}
