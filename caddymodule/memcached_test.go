package caddymodule

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testMemcached returns the address of a memcached for the test: the one
// in SYNCSERVER_TEST_MEMCACHED, or a private one started on a free port
// and stopped when the test ends.
func testMemcached(t *testing.T) string {
	t.Helper()
	if addr := os.Getenv("SYNCSERVER_TEST_MEMCACHED"); addr != "" {
		return addr
	}
	bin, err := exec.LookPath("memcached")
	if err != nil {
		t.Fatalf("memcached is not installed (make services installs it, or set SYNCSERVER_TEST_MEMCACHED=host:port): %v", err)
	}
	ports, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports[0])
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(ports[0]), "-U", "0", "-m", "16"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "memcache") // memcached refuses to run as root
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting memcached: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("memcached on %s did not come up: %v", addr, err)
		}
	}
}

// TestMemcachedThroughCaddy: the memcached subdirective puts the cache in
// front of the pooled MariaDB store; repeated info/collections reads are
// answered from memcached and the counters reach Caddy's metrics.
func TestMemcachedThroughCaddy(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	mc := testMemcached(t)
	t.Setenv("CAD_TEST_MYSQL_DSN", dsn)
	publicURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	unloadAtEnd(t)
	initServer(t, siteCaddyfile(fmt.Sprintf(`database mysql {env.CAD_TEST_MYSQL_DSN}
		memcached %s {
			prefix cadtest:%d:
			ttl 1m
			timeout 200ms
		}
		public_url %s`, mc, time.Now().UnixNano(), publicURL)))

	const email = "hank@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)
	c.firstSync(publicURL)
	first := c.do("GET", "/1.1/"+c.user+"/info/collections", "", true)
	for range 5 {
		if r := c.do("GET", "/1.1/"+c.user+"/info/collections", "", true); r.body != first.body {
			t.Fatalf("cached info/collections %q differs from %q", r.body, first.body)
		}
	}
	// A write through the cache is visible at once.
	c.expect(c.do("PUT", "/1.1/"+c.user+"/storage/history/h1", `{"payload":"x"}`, true), 200, "*")
	if r := c.do("GET", "/1.1/"+c.user+"/info/collections", "", true); !strings.Contains(r.body, `"history"`) {
		t.Errorf("info/collections after a write: %q, want history in it", r.body)
	}

	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^syncserver_memcache_reads_total\{result="hit"\} (\d+)`).FindSubmatch(metrics)
	if m == nil {
		t.Fatalf("no memcache hit counter in metrics:\n%s", grepLines(string(metrics), "syncserver_"))
	}
	if hits, _ := strconv.Atoi(string(m[1])); hits < 5 {
		t.Errorf("memcache hits = %d, want at least the 5 repeated reads", hits)
	}
}
