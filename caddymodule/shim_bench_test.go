package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// BenchmarkRouteDecision measures the shim's routing decision on the hot
// path: the user from the path, the route from the in-process cache, the
// effective state. "hit" is every read (GET) of a user whose route was
// read in the last route_cache_ttl; "miss" is a read that loads the route
// table (SQLite here) every time; "write" is a PUT, which always reads the
// table and refreshes the cache entry.
func BenchmarkRouteDecision(b *testing.B) {
	store := sqliteRoutes(b)
	ctx := context.Background()
	m, err := newMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	const users = 10_000
	paths := make([]string, users)
	for i := range paths {
		name := fmt.Sprintf("%032x", i)
		paths[i] = "/1.1/" + name + "/storage/bookmarks"
		if i%2 == 0 {
			// Half the users have a row (migrated), half follow the default.
			if err := store.SetRoute(ctx, syncstore.Route{Username: name, State: syncstore.RouteNative}); err != nil {
				b.Fatal(err)
			}
		}
	}
	newShim := func(ttl time.Duration) *shim {
		s := &shim{routes: newRouteCache(store), table: store, ttl: ttl, defaultState: syncstore.RouteLegacy,
			hostNode: "node1", metrics: m, clock: time.Now}
		s.countLookups()
		return s
	}
	decideMethod := func(b *testing.B, s *shim, method, path string) {
		req := httpapi.Parse(method, path)
		t, err := s.decide(ctx, method, &req)
		if err != nil || t.user == "" {
			b.Fatalf("decide(%s %s) = %+v, %v", method, path, t, err)
		}
	}
	decide := func(b *testing.B, s *shim, path string) {
		decideMethod(b, s, http.MethodGet, path)
	}

	b.Run("hit", func(b *testing.B) {
		s := newShim(time.Hour)
		for _, p := range paths {
			decide(b, s, p)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			decide(b, s, paths[i%users])
		}
	})
	b.Run("hit-parallel", func(b *testing.B) {
		s := newShim(time.Hour)
		for _, p := range paths {
			decide(b, s, p)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				decide(b, s, paths[i%users])
			}
		})
	})
	b.Run("miss", func(b *testing.B) {
		s := newShim(0)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			decide(b, s, paths[i%users])
		}
	})
	b.Run("write", func(b *testing.B) {
		s := newShim(time.Hour)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			decideMethod(b, s, http.MethodPut, paths[i%users])
		}
	})
	b.Run("write-parallel", func(b *testing.B) {
		s := newShim(time.Hour)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				decideMethod(b, s, http.MethodPut, paths[i%users])
			}
		})
	})
}

// BenchmarkShimOverhead compares a trivial upstream reached directly, the
// same upstream behind a plain Caddy reverse_proxy (the hop alone), and
// behind the shim (a legacy user: route decision, then the same
// reverse_proxy), over keep-alive connections. serial gives the latency
// each request gains; parallel the throughput ratio.
func BenchmarkShimOverhead(b *testing.B) {
	payload := []byte(`{"bookmarks":1795773375.6,"meta":1795773374.68}`)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Weave-Timestamp", "1795773376")
		_, _ = w.Write(payload)
	}))
	defer upstream.Close()

	tester := caddytest.NewTester(b)
	tester.InitServer(globalOptions()+fmt.Sprintf(`
http://127.0.0.1:%d {
	firefox_sync {
		database sqlite %s
		legacy {
			node node1 {
				reverse_proxy %s
			}
		}
	}
}

http://localhost:%d {
	reverse_proxy %s
}
`, httpPort, b.TempDir(), upstream.Listener.Addr(), httpPort, upstream.Listener.Addr()), "caddyfile")
	defer caddytest.NewTester(b).InitServer(emptyCaddyfile(), "caddyfile")

	const path = "/1.1/7qrzrjz52vgwen6e7w2y7v6xknd46wxt/info/collections"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(b *testing.B, base, host string) {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(len(payload)) {
			b.Fatalf("GET %s: %d, %d bytes", base, resp.StatusCode, n)
		}
	}
	caddyURL := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for _, target := range []struct{ name, base, host string }{
		{"direct", upstream.URL, ""},
		// Same address and connections as the shim; the Host picks the site.
		{"caddy-proxy", caddyURL, fmt.Sprintf("localhost:%d", httpPort)},
		{"shim", caddyURL, ""},
	} {
		b.Run("serial/"+target.name, func(b *testing.B) {
			get(b, target.base, target.host)
			b.ReportAllocs()
			for b.Loop() {
				get(b, target.base, target.host)
			}
		})
		b.Run("parallel/"+target.name, func(b *testing.B) {
			get(b, target.base, target.host)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, target.base, target.host)
				}
			})
		})
	}
}
