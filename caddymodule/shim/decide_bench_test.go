package shim

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

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
	m, err := NewMetrics(prometheus.NewRegistry())
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
	newShim := func(ttl time.Duration) *Shim {
		s := &Shim{routes: newRouteCache(store), table: store, ttl: ttl, defaultState: syncstore.RouteLegacy,
			hostNode: "node1", metrics: m, clock: time.Now}
		s.countLookups()
		return s
	}
	decideMethod := func(b *testing.B, s *Shim, method, path string) {
		req := httpapi.Parse(method, path)
		t, err := s.decide(ctx, method, &req)
		if err != nil || t.user == "" {
			b.Fatalf("decide(%s %s) = %+v, %v", method, path, t, err)
		}
	}
	decide := func(b *testing.B, s *Shim, path string) {
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
