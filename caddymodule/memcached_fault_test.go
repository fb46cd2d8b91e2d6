package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// memcacheCounter reads one syncserver_memcache_* counter from the admin
// endpoint's metrics.
func memcacheCounter(t *testing.T, pattern string) int {
	t.Helper()
	_, body := adminRequest(t, "GET", "/metrics", "")
	m := regexp.MustCompile(`(?m)^` + pattern + ` (\d+)`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in metrics:\n%s", pattern, grepLines(body, "syncserver_memcache"))
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestMemcachedKilledUnderLoad: the full server (Caddy, firefox_sync on
// MariaDB with memcached) under a read/write load while its memcached is
// killed and started again, empty. No request may fail; once memcached is
// back the cache serves again, and what it serves equals the database.
func TestMemcachedKilledUnderLoad(t *testing.T) {
	dsn := testservices.NewMySQLDatabase(t, "hrd2_")
	mc := testservices.StartMemcached(t)
	t.Setenv("HRD2_MYSQL_DSN", dsn)
	unloadAtEnd(t)
	initServer(t, siteCaddyfile(fmt.Sprintf(`database mysql {env.HRD2_MYSQL_DSN}
		memcached %s {
			prefix hrd2:%d:
			ttl 1m
			timeout 100ms
		}`, mc.Addr(), time.Now().UnixNano())))

	const workers = 3
	var clients []*syncClient
	for i := range workers {
		email := fmt.Sprintf("mc-fault-%d@example.com", i)
		c := newSyncClient(t, email, "correct horse battery")
		c.register(email)
		c.expect(c.do("PUT", "/1.1/"+c.user+"/storage/crypto/keys", `{"payload":"keys"}`, true), 200, "*")
		c.expect(c.do("PUT", "/1.1/"+c.user+"/storage/meta/global", `{"payload":"global"}`, true), 200, "*")
		clients = append(clients, c)
	}

	var (
		requests, failures atomic.Int64
		failMu             sync.Mutex
		failed             []string
		stop               = make(chan struct{})
		wg                 sync.WaitGroup
	)
	httpc := &http.Client{Timeout: 10 * time.Second}
	call := func(c *syncClient, method, path, body string) {
		req, err := http.NewRequest(method, c.base+"/1.1/"+c.user+path, strings.NewReader(body))
		if err != nil {
			panic(err)
		}
		req.SetBasicAuth(c.user, c.password)
		requests.Add(1)
		resp, err := httpc.Do(req)
		var msg string
		if err != nil {
			msg = err.Error()
		} else {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				msg = fmt.Sprintf("%d %s", resp.StatusCode, b)
			}
		}
		if msg != "" {
			failures.Add(1)
			failMu.Lock()
			failed = append(failed, fmt.Sprintf("%s %s: %s", method, path, msg))
			failMu.Unlock()
		}
	}
	for w, c := range clients {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				call(c, "GET", "/info/collections", "")
				call(c, "GET", "/storage/meta/global", "")
				call(c, "GET", "/storage/crypto/keys", "")
				call(c, "GET", "/info/quota", "")
				// Mostly reads, as Sync clients do, so the cache has hits
				// between the invalidations that writes cause.
				if i%4 != 3 {
					continue
				}
				call(c, "PUT", "/storage/meta/global", fmt.Sprintf(`{"payload":"global %d.%d"}`, w, i))
				call(c, "POST", "/storage/history", fmt.Sprintf(`[{"id":"h%d","payload":"p%d"},{"id":"x","payload":"p%d"}]`, i%50, i, i))
			}
		})
	}

	time.Sleep(500 * time.Millisecond)
	hitsBefore := memcacheCounter(t, `syncserver_memcache_reads_total\{result="hit"\}`)
	if hitsBefore == 0 {
		t.Error("no memcache hits before the kill: the cache was not in use")
	}
	errsBefore := memcacheCounter(t, `syncserver_memcache_errors_total`)
	mc.Kill()
	time.Sleep(1500 * time.Millisecond)
	if errs := memcacheCounter(t, `syncserver_memcache_errors_total`); errs == errsBefore {
		t.Error("memcached was down for 1.5s under load but no memcache error was counted")
	}
	mc.Start()
	hitsAfterRestart := memcacheCounter(t, `syncserver_memcache_reads_total\{result="hit"\}`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if memcacheCounter(t, `syncserver_memcache_reads_total\{result="hit"\}`) > hitsAfterRestart+20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the cache serves no hits within 10s after memcached came back")
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("%d requests during the kill/restart, %d failed", requests.Load(), failures.Load())
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d requests failed while memcached was killed and restarted; first: %v", n, requests.Load(), failed[:min(len(failed), 5)])
	}

	// Cached answers (read twice: fill, then hit) equal the database.
	db, err := mysqlstore.Open(context.Background(), mysqlstore.Config{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, c := range clients {
		u, err := db.LookupUser(ctx, c.user)
		if err != nil {
			t.Fatal(err)
		}
		wantTS, err := db.CollectionTimestamps(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		meta, err := db.GetRecord(ctx, u.ID, "meta", "global")
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			r := c.do("GET", "/1.1/"+c.user+"/info/collections", "", true)
			var got map[string]json.Number
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("info/collections %q: %v", r.body, err)
			}
			if !sameTimestamps(got, wantTS) {
				t.Errorf("%s: info/collections through the cache %v, database %v", c.user, got, wantTS)
			}
			r = c.do("GET", "/1.1/"+c.user+"/storage/meta/global", "", true)
			var wbo struct {
				Payload  string      `json:"payload"`
				Modified json.Number `json:"modified"`
			}
			if err := json.Unmarshal([]byte(r.body), &wbo); err != nil {
				t.Fatalf("meta/global %q: %v", r.body, err)
			}
			if wbo.Payload != *meta.Payload || wbo.Modified.String() != meta.Modified.String() {
				t.Errorf("%s: meta/global through the cache %q at %s, database %q at %s", c.user, wbo.Payload, wbo.Modified, *meta.Payload, meta.Modified)
			}
		}
	}
}

func sameTimestamps(got map[string]json.Number, want map[string]syncstore.Timestamp) bool {
	if len(got) != len(want) {
		return false
	}
	for name, ts := range want {
		if got[name].String() != ts.String() {
			return false
		}
	}
	return true
}
