package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestMemcachedThroughCaddy: the memcached subdirective puts the cache in
// front of the pooled MariaDB store; repeated info/collections reads are
// answered from memcached and the counters reach Caddy's metrics.
func TestMemcachedThroughCaddy(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	mc := testservices.Memcached(t)
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
