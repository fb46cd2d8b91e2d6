package mysqlstore

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/sqlschema"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// appliedMigrations reads schema_migrations.
func appliedMigrations(t *testing.T, s *Store) map[int]int64 {
	t.Helper()
	rows, err := s.DB().Query("SELECT version, applied_at FROM schema_migrations")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := make(map[int]int64)
	for rows.Next() {
		var v int
		var at int64
		if err := rows.Scan(&v, &at); err != nil {
			t.Fatal(err)
		}
		m[v] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func embeddedVersions(t *testing.T) []int {
	t.Helper()
	ms, err := sqlschema.Load(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func TestReopenKeepsDataAndMigrations(t *testing.T) {
	dsn := freshDatabase(t)
	ctx := context.Background()
	s1 := openStore(t, Config{DSN: dsn})
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s1.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.PutRecords(ctx, u.ID, "custom", []syncstore.WBO{{ID: "a", Payload: ptr("x")}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	first := appliedMigrations(t, s1)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, Config{DSN: dsn})
	defer s2.Close()
	if got := appliedMigrations(t, s2); len(got) != len(first) || len(got) != len(embeddedVersions(t)) {
		t.Fatalf("after reopening, schema_migrations = %v, want the %d versions recorded once: %v", got, len(embeddedVersions(t)), first)
	} else {
		for v, at := range first {
			if got[v] != at {
				t.Errorf("migration %d re-recorded: applied_at %d, then %d", v, at, got[v])
			}
		}
	}
	w, err := s2.GetRecord(ctx, u.ID, "custom", "a")
	if err != nil {
		t.Fatalf("record written before reopening: %v", err)
	}
	if *w.Payload != "x" {
		t.Errorf("payload = %q, want x", *w.Payload)
	}
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := freshDatabase(t)
	const instances = 4
	var wg sync.WaitGroup
	stores := make([]*Store, instances)
	errs := make([]error, instances)
	for i := range instances {
		wg.Go(func() {
			stores[i], errs[i] = Open(context.Background(), Config{DSN: dsn, MaxOpenConns: 2})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("instance %d: Open: %v", i, err)
		}
		defer stores[i].Close()
	}
	got := appliedMigrations(t, stores[0])
	want := embeddedVersions(t)
	if len(got) != len(want) {
		t.Errorf("schema_migrations = %v, want versions %v once each", got, want)
	}
	var seeded int
	if err := stores[0].DB().QueryRow("SELECT COUNT(*) FROM collections").Scan(&seeded); err != nil {
		t.Fatal(err)
	}
	if seeded != 11 {
		t.Errorf("collections holds %d rows after concurrent opens, want the 11 standard ones", seeded)
	}
}

func TestBadDSN(t *testing.T) {
	const secret = "s3cr/et!"
	cases := map[string]struct {
		dsn  string
		want string
	}{
		"empty":            {"", "empty"},
		"no slash":         {"root:" + secret + "@tcp(127.0.0.1:3306)", "unknown network"},
		"slashless":        {"root:secret@tcp(127.0.0.1:3306)", "missing the slash"},
		"no database":      {"root:" + secret + "@tcp(127.0.0.1:3306)/", "no database name"},
		"unclosed address": {"root:" + secret + "@tcp(127.0.0.1:3306/db", "not terminated"},
		"no at sign":       {"root:" + secret + "tcp(127.0.0.1:3306)/db", "unknown network"},
		"bad parameter":    {"root:" + secret + "@tcp(127.0.0.1:3306)/db?parseTime=maybe", "invalid bool value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Open(context.Background(), Config{DSN: c.dsn})
			if err == nil {
				t.Fatal("Open accepted the DSN")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			for _, piece := range []string{secret, "s3cr", "et!"} {
				if strings.Contains(msg, piece) {
					t.Errorf("error %q shows the password (%q)", msg, piece)
				}
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	testservices.MySQLAdmin(t) // fails without a server
	const secret = "not-the-password"
	_, err := Open(context.Background(), Config{DSN: "mys_nobody:" + secret + "@tcp(" + serverAddr(t) + ")/mys_none"})
	if err == nil {
		t.Fatal("Open succeeded with unknown credentials")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error %q shows the password", err)
	}
	if !strings.Contains(err.Error(), "Access denied") {
		t.Errorf("error %q does not say access was denied", err)
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		// A port held for the test with nothing listening on it.
		addr := testservices.ReservePort(t).Addr()
		_, err := Open(context.Background(), Config{DSN: "root:pw@tcp(" + addr + ")/db"})
		if err == nil {
			t.Fatal("Open succeeded without a server")
		}
		if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "refused") {
			t.Errorf("error %q should name the address and the refusal", err)
		}
	})
	t.Run("silent", func(t *testing.T) {
		// Accepts connections but never sends the handshake, like a hung
		// server: Open must give up when its context ends, not hang.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		var conns []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}()
		defer func() {
			mu.Lock()
			defer mu.Unlock()
			for _, c := range conns {
				c.Close()
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := Open(ctx, Config{DSN: "root:pw@tcp(" + l.Addr().String() + ")/db"})
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("Open succeeded against a silent server")
			}
			if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "timeout") {
				t.Errorf("error %q should say the connection timed out", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Open still hangs 30 s after its context ended")
		}
	})
}

func serverAddr(t *testing.T) string {
	t.Helper()
	return testservices.MySQLServer(t).Addr
}

func ptr[T any](v T) *T { return &v }

// TestSessionSettings checks what every pooled connection is forced to,
// even against a DSN that asks for something else.
func TestSessionSettings(t *testing.T) {
	cfg, err := mysql.ParseDSN(freshDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParseTime, cfg.InterpolateParams = true, false
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["sql_mode"] = "'ANSI_QUOTES'"
	s := openStore(t, Config{DSN: cfg.FormatDSN()})
	defer s.Close()
	var mode, charset, isolation string
	err = s.DB().QueryRow("SELECT @@SESSION.sql_mode, @@SESSION.character_set_connection").Scan(&mode, &charset)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DB().QueryRow("SELECT @@SESSION.transaction_isolation").Scan(&isolation); err != nil {
		if err := s.DB().QueryRow("SELECT @@SESSION.tx_isolation").Scan(&isolation); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(mode, "STRICT_ALL_TABLES") || strings.Contains(mode, "ANSI_QUOTES") {
		t.Errorf("sql_mode = %q, want strict and without ANSI_QUOTES", mode)
	}
	if charset != "utf8mb4" {
		t.Errorf("connection charset = %q, want utf8mb4", charset)
	}
	if isolation != "READ-COMMITTED" {
		t.Errorf("isolation = %q, want READ-COMMITTED", isolation)
	}
	var ts any
	if err := s.DB().QueryRow("SELECT NOW()").Scan(&ts); err != nil {
		t.Fatal(err)
	}
	if _, ok := ts.([]byte); !ok {
		t.Errorf("NOW() scanned as %T: parseTime was not forced off", ts)
	}
}

// TestIOTimeoutDefaults: without timeouts in the DSN a connection to a
// server that stops answering would hang a request until TCP keepalive
// gives up; the store sets read and write timeouts unless the DSN does.
func TestIOTimeoutDefaults(t *testing.T) {
	cfg, err := driverConfig("u:p@tcp(127.0.0.1:3306)/sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadTimeout != defaultIOTimeout || cfg.WriteTimeout != defaultIOTimeout || cfg.Timeout != defaultDialTimeout {
		t.Errorf("timeouts read %v write %v dial %v, want %v, %v, %v",
			cfg.ReadTimeout, cfg.WriteTimeout, cfg.Timeout, defaultIOTimeout, defaultIOTimeout, defaultDialTimeout)
	}
	cfg, err = driverConfig("u:p@tcp(127.0.0.1:3306)/sync?readTimeout=2s&writeTimeout=3s&timeout=1s", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadTimeout != 2*time.Second || cfg.WriteTimeout != 3*time.Second || cfg.Timeout != time.Second {
		t.Errorf("DSN timeouts overridden: read %v write %v dial %v", cfg.ReadTimeout, cfg.WriteTimeout, cfg.Timeout)
	}
}

// TestRedoLogWarning: Open warns, once, when the server's InnoDB redo log
// is below smallRedoLog, and says nothing about it otherwise; it reads the
// server's own setting, so the test holds whatever the server has.
func TestRedoLogWarning(t *testing.T) {
	core, observed := observer.New(zap.WarnLevel)
	s := openStore(t, Config{DSN: freshDatabase(t), Logger: zap.New(core)})
	defer s.Close()
	var version string
	var size int64
	if err := s.db.QueryRow("SELECT VERSION(), @@innodb_log_file_size").Scan(&version, &size); err != nil {
		t.Fatal(err)
	}
	warned := observed.FilterField(zap.Int64("innodb_log_file_size", size)).All()
	want := 0
	if isMariaDB(version) && size < smallRedoLog {
		want = 1
	}
	if len(warned) != want {
		t.Fatalf("server %s with innodb_log_file_size %d: %d warnings naming it, want %d (all: %v)", version, size, len(warned), want, observed.All())
	}
	if want == 1 && !strings.Contains(warned[0].Message, "innodb_log_file_size = 1G") {
		t.Errorf("the warning does not say what to set: %q", warned[0].Message)
	}
}
