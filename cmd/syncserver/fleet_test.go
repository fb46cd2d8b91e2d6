package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// syncedBuffer collects a process's output while the test reads it.
type syncedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncedBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncedBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fleetInstance is one syncserver process of a fleet test.
type fleetInstance struct {
	name   string
	base   string // http://127.0.0.1:<port>
	dir    string // its working directory: Caddyfile, admin socket, storage
	proc   *os.Process
	logs   *syncedBuffer
	exited chan error
}

// fleetDatabase creates an empty MariaDB database, dropped when the test
// ends; it returns the DSN and a connection to it for the test's checks.
func fleetDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dsn := testservices.NewMySQLDatabase(t, "fleet_")
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return dsn, db
}

// startFleetInstance runs `syncserver run` with a Caddyfile serving the
// shared database and memcached on a port held for the test.
func startFleetInstance(t *testing.T, ctx context.Context, name, dsn, prefix string) *fleetInstance {
	t.Helper()
	port := testservices.ReservePort(t)
	return startSyncserver(t, ctx, name, port, fmt.Sprintf(`{
	admin unix/{dir}/admin.sock
	storage file_system {dir}/caddy
	auto_https off
}
http://127.0.0.1:%d {
	bind 127.0.0.1
	firefox_sync {
		database mysql "%s"
		memcached 127.0.0.1:11211 {
			prefix %s
		}
		registration open
		bcrypt_cost 4
		auth_cache_ttl 1s
		purge_interval 100ms
	}
}
`, port.Number(), dsn, prefix))
}

// startSyncserver runs `syncserver run` with caddyfile, in which {dir}
// stands for the process's own working directory, and waits until
// /__heartbeat__ answers on the held port. The process is killed when the
// test ends.
func startSyncserver(t *testing.T, ctx context.Context, name string, port *testservices.Port, caddyfile string) *fleetInstance {
	t.Helper()
	dir := t.TempDir()
	caddyfile = strings.ReplaceAll(caddyfile, "{dir}", dir)
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile"), []byte(caddyfile), 0o600); err != nil {
		t.Fatal(err)
	}
	run, _ := syncserver(ctx, dir, "run", "--config", "Caddyfile")
	logs := new(syncedBuffer)
	run.Stdout, run.Stderr = logs, logs
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	in := &fleetInstance{name: name, base: "http://" + port.Addr(), dir: dir, proc: run.Process, logs: logs, exited: make(chan error, 1)}
	go func() { in.exited <- run.Wait() }()
	t.Cleanup(in.kill)
	for start := time.Now(); ; {
		resp, err := http.Get(in.base + "/__heartbeat__")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("instance %s did not come up: %v\n%s", name, err, logs)
		}
		select {
		case err := <-in.exited:
			in.exited <- err
			t.Fatalf("instance %s exited: %v\n%s", name, err, logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return in
}

// kill ends the process with SIGKILL, as a crash, and waits for it; a
// process that already exited is left alone.
func (in *fleetInstance) kill() {
	_ = in.proc.Signal(syscall.SIGKILL)
	err := <-in.exited
	in.exited <- err
}

// do sends one request and returns the status and body.
func (in *fleetInstance) do(t *testing.T, method, path, user, password, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, in.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, in.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// purgeLockHolder is the MySQL connection holding the database's purge
// lock (0: none).
func purgeLockHolder(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var holder sql.NullInt64
	if err := db.QueryRow("SELECT IS_USED_LOCK(CONCAT('syncserver.purge.', SHA1(DATABASE())))").Scan(&holder); err != nil {
		t.Fatal(err)
	}
	return holder.Int64
}

const purgeLeaderLog = "this instance purges expired records for the database"

// TestFleetProcesses: two syncserver processes on one MariaDB database
// and one memcached, as behind a load balancer. A client may switch
// instances between any two requests: its custom collection, written on
// one, is read and written on the other at once; its password changed on
// one stops working on the other within auth_cache_ttl; and exactly one of
// them purges, until it is killed, when the other takes over.
func TestFleetProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	dsn, db := fleetDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix := "fleet" + hex.EncodeToString(b[:]) + ":"
	a := startFleetInstance(t, ctx, "A", dsn, prefix)
	bb := startFleetInstance(t, ctx, "B", dsn, prefix)

	const user, oldPW, newPW = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt", "correct horse battery", "staple battery horse"
	if code, body := a.do(t, "PUT", "/user/1.0/"+user, "", "", `{"email":"alice@example.com","password":"`+oldPW+`"}`); code != 200 || body != user {
		t.Fatalf("registration on A: %d %q", code, body)
	}
	storage := "/1.1/" + user + "/storage/addon-prefs"
	if code, body := a.do(t, "POST", storage, user, oldPW, `[{"id":"r1","payload":"from A"}]`); code != 200 || !strings.Contains(body, `"r1"`) {
		t.Fatalf("POST on A: %d %s", code, body)
	}
	if code, body := bb.do(t, "GET", storage+"/r1", user, oldPW, ""); code != 200 || !strings.Contains(body, `"from A"`) {
		t.Fatalf("B reading A's new collection: %d %s", code, body)
	}
	if code, body := bb.do(t, "POST", storage, user, oldPW, `[{"id":"r2","payload":"from B"}]`); code != 200 || !strings.Contains(body, `"r2"`) {
		t.Fatalf("POST on B: %d %s", code, body)
	}
	if code, body := a.do(t, "GET", storage+"?full=1", user, oldPW, ""); code != 200 || !strings.Contains(body, `"from B"`) {
		t.Errorf("A reading B's write: %d %s", code, body)
	}
	if code, body := a.do(t, "GET", "/1.1/"+user+"/info/collections", user, oldPW, ""); code != 200 || !strings.Contains(body, `"addon-prefs"`) {
		t.Errorf("A's info/collections: %d %s", code, body)
	}

	// B has the old password cached now; A changes it.
	if code, body := a.do(t, "POST", "/user/1.0/"+user+"/password", user, oldPW, newPW); code != 200 {
		t.Fatalf("password change on A: %d %s", code, body)
	}
	changed := time.Now()
	if code, _ := bb.do(t, "GET", "/1.1/"+user+"/info/collections", user, newPW, ""); code != 200 {
		t.Errorf("B refuses the new password: %d", code)
	}
	time.Sleep(time.Until(changed.Add(time.Second))) // auth_cache_ttl
	if code, _ := bb.do(t, "GET", "/1.1/"+user+"/info/collections", user, oldPW, ""); code != 401 {
		t.Errorf("B answers %d to the old password %s after the change (auth_cache_ttl 1s), want 401", code, time.Since(changed).Round(time.Millisecond))
	}

	// One purger: the lock's holder, and one instance's log says so.
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for start := time.Now(); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s: not after 30s\nA:\n%s\nB:\n%s", what, a.logs, bb.logs)
			}
		}
	}
	waitFor("an instance takes the purge lock", func() bool {
		return purgeLockHolder(t, db) != 0 && (strings.Contains(a.logs.String(), purgeLeaderLog) || strings.Contains(bb.logs.String(), purgeLeaderLog))
	})
	leader, other := a, bb
	if strings.Contains(bb.logs.String(), purgeLeaderLog) {
		leader, other = bb, a
	}
	first := purgeLockHolder(t, db)
	// Many ticks later the other instance still has not taken it.
	time.Sleep(time.Second)
	if strings.Contains(other.logs.String(), purgeLeaderLog) || purgeLockHolder(t, db) != first {
		t.Fatalf("both instances took the purge lock\n%s:\n%s\n%s:\n%s", leader.name, leader.logs, other.name, other.logs)
	}
	// The purging instance dies; its session ends, the other takes over.
	leader.kill()
	waitFor("the other instance takes over the purge", func() bool {
		h := purgeLockHolder(t, db)
		return h != 0 && h != first && strings.Contains(other.logs.String(), purgeLeaderLog)
	})
	if code, _ := other.do(t, "GET", storage+"/r1", user, newPW, ""); code != 200 {
		t.Errorf("%s after %s was killed: %d", other.name, leader.name, code)
	}
}
