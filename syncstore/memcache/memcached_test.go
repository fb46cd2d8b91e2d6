package memcache

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// memcachedEnv names an external memcached ("host:port") to use instead of
// starting one. Tests that stop and restart memcached always start their
// own.
const memcachedEnv = "SYNCSERVER_TEST_MEMCACHED"

// memcachedProc is a memcached server this test started and can stop and
// restart on the same port.
type memcachedProc struct {
	t    testing.TB
	bin  string
	addr string
	port int
	cmd  *exec.Cmd
}

// memcachedServer returns the address of the external memcached if one is
// configured, else of one started for this test.
func memcachedServer(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv(memcachedEnv); addr != "" {
		return addr
	}
	return startMemcached(t).addr
}

// startMemcached starts a private memcached on a free port, stopped when
// the test ends.
func startMemcached(t testing.TB) *memcachedProc {
	t.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("memcached binary not found (%v): install it (Debian: apt-get install -y memcached) or set %s to a running server", err, memcachedEnv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &memcachedProc{t: t, bin: bin, port: port, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *memcachedProc) start() {
	p.t.Helper()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "0", "-m", "64", "-t", "2"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "memcache") // memcached refuses to run as root
	}
	p.cmd = exec.Command(p.bin, args...)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("starting memcached: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			p.stop()
			p.t.Fatalf("memcached on %s did not come up: %v", p.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills memcached, losing everything it held, as a crash would.
func (p *memcachedProc) stop() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}
