package testservices

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// MemcachedEnv names a running memcached ("host:port") that tests may use
// instead of starting their own. Tests that kill memcached always start
// their own.
const MemcachedEnv = "SYNCSERVER_TEST_MEMCACHED"

// Memcached is the address of a memcached for the test: the one in
// SYNCSERVER_TEST_MEMCACHED (shared: use a key prefix of the test's own),
// or a private one stopped when the test ends.
func Memcached(t TB) string {
	t.Helper()
	if addr := os.Getenv(MemcachedEnv); addr != "" {
		return addr
	}
	return StartMemcached(t).Addr()
}

// A MemcachedProcess is a private memcached on a port held for the test,
// so that it can be killed and started again on the same address.
type MemcachedProcess struct {
	t      TB
	bin    string
	port   *Port
	cmd    *exec.Cmd
	exited chan error // cmd.Wait's result
}

// StartMemcached starts a private memcached, killed when the test ends.
// It fails the test if memcached is not installed (make services installs
// it).
func StartMemcached(t TB) *MemcachedProcess {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("memcached is not installed (make services installs it, or set %s=host:port): %v", MemcachedEnv, err)
	}
	m := &MemcachedProcess{t: t, bin: bin, port: ReservePort(t)}
	t.Cleanup(m.Kill)
	m.Start()
	return m
}

// Pid is the process id of the running memcached (0 when it is not
// running), for tests that account for its CPU time.
func (m *MemcachedProcess) Pid() int {
	if m.cmd == nil {
		return 0
	}
	return m.cmd.Process.Pid
}

// Addr is the memcached's host:port.
func (m *MemcachedProcess) Addr() string { return m.port.Addr() }

// Start runs memcached, empty, and waits until it answers.
func (m *MemcachedProcess) Start() {
	m.t.Helper()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(m.port.Number()), "-U", "0", "-m", "64", "-t", "2"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "memcache") // memcached refuses to run as root
	}
	cmd := exec.Command(m.bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("starting memcached: %v", err)
	}
	m.cmd, m.exited = cmd, make(chan error, 1)
	go func(exited chan<- error) { exited <- cmd.Wait() }(m.exited)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-m.exited:
			m.cmd = nil
			m.t.Fatalf("memcached on %s exited at start: %v", m.Addr(), err)
		default:
		}
		c, err := net.DialTimeout("tcp", m.Addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.Kill()
			m.t.Fatalf("memcached on %s did not come up: %v", m.Addr(), err)
		}
	}
}

// Kill is SIGKILL, as a crash: no goodbye to connected clients, the cache
// is lost. The port stays held for a later Start.
func (m *MemcachedProcess) Kill() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Kill()
	<-m.exited
	m.cmd = nil
}
