package faults

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// Binaries of the private server.
const (
	mariadbd         = "/usr/sbin/mariadbd"
	mariadbInstallDB = "mariadb-install-db"
)

// privateMariaDB is a mariadbd of the test's own: data, socket, pid file
// and error log in a temporary directory, TCP on a loopback port held for
// the test,
// no grant tables (any user and password connect). It can be stopped,
// killed and started again on the same port and data.
type privateMariaDB struct {
	t    testing.TB
	dir  string
	port *testservices.Port
	cmd  *exec.Cmd
	done chan error // receives cmd.Wait's result
}

// startPrivateMariaDB initialises a data directory and starts the server.
// It fails the test when MariaDB is not installed: make services and CI
// install it.
func startPrivateMariaDB(t testing.TB) *privateMariaDB {
	t.Helper()
	if _, err := os.Stat(mariadbd); err != nil {
		t.Fatalf("fault injection needs a private MariaDB server: %s is missing (apt-get install mariadb-server)", mariadbd)
	}
	install, err := exec.LookPath(mariadbInstallDB)
	if err != nil {
		t.Fatalf("fault injection needs %s to create a private data directory: %v", mariadbInstallDB, err)
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir can be long.
	dir, err := os.MkdirTemp("", "hrd-mariadb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--auth-root-authentication-method=normal", "--skip-test-db"}
	args = append(args, userArgs()...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", mariadbInstallDB, err, out)
	}
	m := &privateMariaDB{t: t, dir: dir, port: testservices.ReservePort(t)}
	m.start()
	t.Cleanup(func() {
		if m.running() {
			m.signal(syscall.SIGKILL)
		}
	})
	return m
}

// userArgs lets mariadbd run as root, which it refuses by default.
func userArgs() []string {
	if os.Getuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// addr is the server's TCP address.
func (m *privateMariaDB) addr() string { return m.port.Addr() }

// start runs mariadbd and waits until it answers queries.
func (m *privateMariaDB) start() {
	m.t.Helper()
	args := []string{
		"--no-defaults",
		"--datadir=" + filepath.Join(m.dir, "data"),
		"--socket=" + filepath.Join(m.dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(m.dir, "mysqld.pid"),
		"--log-error=" + filepath.Join(m.dir, "error.log"),
		"--port=" + strconv.Itoa(m.port.Number()),
		"--bind-address=127.0.0.1",
		"--skip-grant-tables",
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=32M",
		// Durable commits are what the test checks; keep the default
		// explicit so nobody speeds the test up by relaxing it.
		"--innodb-flush-log-at-trx-commit=1",
	}
	args = append(args, userArgs()...)
	m.cmd = exec.Command(mariadbd, args...)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("starting %s: %v", mariadbd, err)
	}
	m.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(m.cmd, m.done)
	if err := m.waitReady(60 * time.Second); err != nil {
		m.t.Fatalf("private MariaDB on %s: %v\n%s", m.addr(), err, m.errorLog())
	}
}

func (m *privateMariaDB) waitReady(timeout time.Duration) error {
	db, err := sql.Open("mysql", "root@tcp("+m.addr()+")/?timeout=1s")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case exit := <-m.done:
			m.done <- exit
			return fmt.Errorf("mariadbd exited: %v", exit)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *privateMariaDB) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case exit := <-m.done:
		m.done <- exit
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the server to exit (SIGKILL after 30 s).
func (m *privateMariaDB) signal(sig syscall.Signal) {
	m.t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		m.t.Fatalf("signalling mariadbd: %v", err)
	}
	select {
	case exit := <-m.done:
		m.done <- exit
	case <-time.After(30 * time.Second):
		_ = m.cmd.Process.Kill()
		m.done <- <-m.done
		m.t.Errorf("mariadbd ignored %v for 30 s; killed", sig)
	}
}

// errorLog is the server's own log, for failure messages.
func (m *privateMariaDB) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// createDatabase makes a database for the test.
func (m *privateMariaDB) createDatabase(name string) {
	m.t.Helper()
	db, err := sql.Open("mysql", "root@tcp("+m.addr()+")/")
	if err != nil {
		m.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		m.t.Fatalf("creating %s: %v", name, err)
	}
}
