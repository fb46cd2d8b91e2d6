package shim

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestFleetRouteFlipReachesOtherInstanceWrites: two instances on one
// MariaDB database, each with its own pool and route cache (an hour's
// TTL). A route changed through instance A's admin API decides instance
// B's next write at once, though B cached the old row for its reads; B's
// reads follow within route_cache_ttl.
func TestFleetRouteFlipReachesOtherInstanceWrites(t *testing.T) {
	dsn := testservices.NewMySQLDatabase(t, "shf_")
	ctx := context.Background()
	open := func() *mysqlstore.Store {
		s, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	storeA, storeB := open(), open()
	const user = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	if err := storeA.CreateUser(ctx, &syncstore.User{Name: user, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := storeA.SetRoute(ctx, syncstore.Route{Username: user, State: syncstore.RouteLegacy, Node: "node1"}); err != nil {
		t.Fatal(err)
	}

	adminA := &Admin{
		Database: func(string) (Database, error) { return Database{Routes: NewRoutes(storeA), Users: storeA}, nil },
		Logger:   zap.NewNop(),
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	b := &Shim{routes: newRouteCache(storeB), table: storeB, ttl: time.Hour, defaultState: syncstore.RouteLegacy,
		hostNode: "node1", metrics: m, clock: clock.now}
	b.countLookups()
	decide := func(method, path string, want syncstore.RouteState) {
		t.Helper()
		req := httpapi.Parse(method, path)
		got, err := b.decide(ctx, method, &req)
		if err != nil || got.state != want {
			t.Fatalf("instance B, %s %s: %+v, %v; want %s", method, path, got, err, want)
		}
	}
	info := "/1.1/" + user + "/info/collections"
	bookmarks := "/1.1/" + user + "/storage/bookmarks"
	decide(http.MethodGet, info, syncstore.RouteLegacy) // cached by B for an hour
	decide(http.MethodPost, bookmarks, syncstore.RouteLegacy)

	// The operator flips the user to native through instance A.
	rec := httptest.NewRecorder()
	put := httptest.NewRequest(http.MethodPut, AdminPath+user, strings.NewReader(`{"state": "native"}`))
	if err := adminA.Serve(rec, put); err != nil || !strings.Contains(rec.Body.String(), `"state":"native"`) {
		t.Fatalf("PUT through A's admin API: %v, %s", err, rec.Body)
	}
	clock.advance(time.Millisecond)
	// B's writes see it at once, whatever B cached; nothing is written
	// to the legacy node after the flip.
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		decide(method, bookmarks, syncstore.RouteNative)
	}
	// The write's read refreshed B's cache, so B's reads follow at once
	// here; without a write they would within the TTL.
	decide(http.MethodGet, info, syncstore.RouteNative)

	// A flip back that B's reads have not seen yet still reaches its
	// writes at once, and its reads after route_cache_ttl.
	rec = httptest.NewRecorder()
	put = httptest.NewRequest(http.MethodPut, AdminPath+user, strings.NewReader(`{"state": "legacy"}`))
	if err := adminA.Serve(rec, put); err != nil {
		t.Fatalf("PUT back to legacy through A: %v, %s", err, rec.Body)
	}
	decide(http.MethodGet, info, syncstore.RouteNative) // stale, within the TTL
	clock.advance(time.Hour)
	decide(http.MethodGet, info, syncstore.RouteLegacy)
	decide(http.MethodPost, bookmarks, syncstore.RouteLegacy)
}
