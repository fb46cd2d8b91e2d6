package testservices

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Binaries of a private MariaDB server, both from Debian's
// mariadb-server-core (make services checks for them).
const (
	mariadbdPath     = "/usr/sbin/mariadbd"
	mariadbInstallDB = "mariadb-install-db"
)

// A MariaDBProcess is a mariadbd of the test's own: data, socket, pid file
// and error log in a temporary directory, TCP on a loopback port held for
// the test, no grant tables (root, and any user, connect without a
// password). Unlike the shared server of SYNCSERVER_TEST_MYSQL it can be
// stopped, killed, frozen with SIGSTOP and started again on the same port
// and data, which is what fault-injection and fleet tests need.
type MariaDBProcess struct {
	t    TB
	dir  string
	port *Port
	cmd  *exec.Cmd
	done chan error // receives cmd.Wait's result, put back by whoever reads it
}

// StartMariaDB initialises a data directory and starts a private server,
// killed when the test ends. It fails the test (it never skips it) when
// MariaDB is not installed: make services and CI install it.
func StartMariaDB(t TB) *MariaDBProcess {
	t.Helper()
	m := NewMariaDB(t)
	m.Start()
	return m
}

// NewMariaDB initialises the data directory of a private server without
// starting it, so that a test can initialise several at once (the
// initialisation takes seconds) and start them later.
func NewMariaDB(t TB) *MariaDBProcess {
	t.Helper()
	if _, err := os.Stat(mariadbdPath); err != nil {
		t.Fatalf("a private MariaDB server needs %s (make services installs mariadb-server): %v", mariadbdPath, err)
	}
	install, err := exec.LookPath(mariadbInstallDB)
	if err != nil {
		t.Fatalf("a private MariaDB server needs %s to create its data directory (make services installs mariadb-server): %v", mariadbInstallDB, err)
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir can be long.
	dir, err := os.MkdirTemp("", "mariadbd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--auth-root-authentication-method=normal", "--skip-test-db"}
	args = append(args, mariadbUserArgs()...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", mariadbInstallDB, err, out)
	}
	m := &MariaDBProcess{t: t, dir: dir, port: ReservePort(t)}
	// Registered after the directory's removal, so it runs before it.
	t.Cleanup(func() {
		if m.Running() {
			_ = m.cmd.Process.Signal(syscall.SIGCONT) // a frozen server cannot die
			m.Signal(syscall.SIGKILL)
		}
	})
	return m
}

// mariadbUserArgs lets mariadbd run as root, which it refuses by default.
func mariadbUserArgs() []string {
	if os.Getuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

// Addr is the server's TCP address, 127.0.0.1:<port>.
func (m *MariaDBProcess) Addr() string { return m.port.Addr() }

// DSN is a go-sql-driver DSN of database on this server as root; params
// are added as they are (e.g. "readTimeout=2s").
func (m *MariaDBProcess) DSN(database string, params ...string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = m.Addr()
	cfg.DBName = database
	dsn := cfg.FormatDSN()
	for i, p := range params {
		if i == 0 {
			dsn += "?" + p
		} else {
			dsn += "&" + p
		}
	}
	return dsn
}

// Pid is the process id of the running server.
func (m *MariaDBProcess) Pid() int { return m.cmd.Process.Pid }

// Start runs mariadbd and waits until it answers queries. It fails the
// test when the server does not come up within a minute.
func (m *MariaDBProcess) Start() {
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
		"--skip-log-bin",
		"--innodb-buffer-pool-size=32M",
		// Durable commits are what fault tests check; keep the default
		// explicit so nobody speeds the tests up by relaxing it.
		"--innodb-flush-log-at-trx-commit=1",
	}
	args = append(args, mariadbUserArgs()...)
	m.cmd = exec.Command(mariadbdPath, args...)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("starting %s: %v", mariadbdPath, err)
	}
	m.done = make(chan error, 1)
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(m.cmd, m.done)
	if err := m.waitReady(time.Minute); err != nil {
		m.t.Fatalf("private MariaDB on %s: %v\n%s", m.Addr(), err, m.ErrorLog())
	}
}

func (m *MariaDBProcess) waitReady(timeout time.Duration) error {
	db, err := sql.Open("mysql", m.DSN("", "timeout=1s"))
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

// Running reports whether the server process is alive (frozen counts).
func (m *MariaDBProcess) Running() bool {
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

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit.
func (m *MariaDBProcess) Stop() {
	m.t.Helper()
	m.Signal(syscall.SIGTERM)
}

// Signal sends sig and waits for the server to exit (SIGKILL after 30 s,
// which fails the test).
func (m *MariaDBProcess) Signal(sig syscall.Signal) {
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

// SendSignal signals the server without waiting for it to exit (SIGSTOP,
// SIGCONT).
func (m *MariaDBProcess) SendSignal(sig syscall.Signal) {
	m.t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.t.Fatalf("sending %v to mariadbd: %v", sig, err)
	}
}

// Freeze stops the server with SIGSTOP, as a hung disk or a lock storm
// looks from a client, and waits until every one of its threads is
// stopped: the signal is delivered asynchronously, and a thread still
// running could answer a query sent after kill returned. Thaw (SIGCONT)
// undoes it; the test's cleanup does too.
func (m *MariaDBProcess) Freeze() {
	m.t.Helper()
	m.SendSignal(syscall.SIGSTOP)
	tasks := filepath.Join("/proc", strconv.Itoa(m.Pid()), "task")
	limit := time.Now().Add(10 * time.Second)
	for {
		stat, err := filepath.Glob(filepath.Join(tasks, "*", "stat"))
		if err != nil || len(stat) == 0 {
			m.t.Fatalf("reading the threads of mariadbd in %s: %v", tasks, err)
		}
		stopped := true
		for _, f := range stat {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // the thread exited
			}
			// "pid (comm) S ...": the state follows the last ')'.
			if i := bytes.LastIndexByte(b, ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		if time.Now().After(limit) {
			m.t.Fatalf("mariadbd not stopped 10 s after SIGSTOP")
		}
		time.Sleep(time.Millisecond)
	}
}

// Thaw resumes a frozen server (SIGCONT).
func (m *MariaDBProcess) Thaw() {
	m.t.Helper()
	m.SendSignal(syscall.SIGCONT)
}

// ErrorLog is the tail of the server's own log, for failure messages.
func (m *MariaDBProcess) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(m.dir, "error.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// CreateDatabase makes a database on the server and returns its DSN.
func (m *MariaDBProcess) CreateDatabase(name string) string {
	m.t.Helper()
	db, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		m.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE `" + name + "`"); err != nil {
		m.t.Fatalf("creating database %s on %s: %v", name, m.Addr(), err)
	}
	return m.DSN(name)
}
