package shim

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// newTestShim is a Shim deciding routes from a fresh SQLite route table
// on a settable clock, with its lookup metrics in reg.
func newTestShim(t *testing.T, reg *prometheus.Registry, ttl time.Duration, def syncstore.RouteState, host string) (*Shim, *sqlitestore.Store, *testClock) {
	t.Helper()
	store := sqliteRoutes(t)
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now()}
	s := &Shim{routes: newRouteCache(store), table: store, ttl: ttl, defaultState: def, hostNode: host, metrics: m, clock: clock.now}
	s.countLookups()
	return s, store, clock
}

// TestShimDecideWrites: requests that can write read the route table
// whatever the cache holds, and leave what they read for the reads that
// follow; reads use the cache for up to route_cache_ttl.
func TestShimDecideWrites(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, store, clock := newTestShim(t, reg, time.Minute, syncstore.RouteLegacy, "node1")
	ctx := context.Background()
	const user = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	path := "/1.1/" + user + "/storage/bookmarks"
	decide := func(method string, want syncstore.RouteState) {
		t.Helper()
		req := httpapi.Parse(method, path)
		got, err := s.decide(ctx, method, &req)
		if err != nil || got.user != user || got.state != want {
			t.Fatalf("%s: %+v, %v; want %s", method, got, err, want)
		}
	}

	// The user has a row (a cached absence is never trusted:
	// TestShimRereadsAbsence).
	if err := store.SetRoute(ctx, syncstore.Route{Username: user, State: syncstore.RouteLegacy, Node: "node1"}); err != nil {
		t.Fatal(err)
	}
	decide(http.MethodGet, syncstore.RouteLegacy)
	// The migrate tool, elsewhere, sets the user migrating.
	if err := store.SetRoute(ctx, syncstore.Route{Username: user, State: syncstore.RouteMigrating,
		Owner: "run", LeaseExpires: clock.now().Add(time.Minute), Origin: syncstore.RouteLegacy}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	decide(http.MethodHead, syncstore.RouteLegacy) // a read may lag, within the TTL
	for _, method := range []string{http.MethodPut, http.MethodPost, http.MethodDelete} {
		decide(method, syncstore.RouteMigrating)
	}
	decide(http.MethodGet, syncstore.RouteMigrating) // from the table: a cached migrating row is re-read

	// The flip to native reaches writes at once too.
	if err := store.SetRoute(ctx, syncstore.Route{Username: user, State: syncstore.RouteNative}); err != nil {
		t.Fatal(err)
	}
	decide(http.MethodPost, syncstore.RouteNative)
	decide(http.MethodGet, syncstore.RouteNative)

	lookups := func(result string) float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "syncserver_route_lookups_total" {
				continue
			}
			for _, c := range f.GetMetric() {
				if l := c.GetLabel(); len(l) == 1 && l[0].GetValue() == result {
					return c.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	if hit, miss, write := lookups("hit"), lookups("miss"), lookups("write"); hit != 2 || miss != 2 || write != 4 {
		t.Errorf("route lookups hit=%v miss=%v write=%v, want 2, 2, 4", hit, miss, write)
	}
}

// TestShimRereadsAbsence: a user without a row, looked up by a read (a
// client's "does this name exist?" before registering), then registered
// through another instance, which writes the row: the next read here must
// follow the new row, not the cached absence. It failed before, as a 404
// from node/weave in the fleet test right after registration: this
// instance looked for the new user in the default database.
func TestShimRereadsAbsence(t *testing.T) {
	s, store, clock := newTestShim(t, prometheus.NewRegistry(), time.Hour, syncstore.RouteNative, "")
	ctx := context.Background()
	const user = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	exists := httpapi.Parse(http.MethodGet, "/user/1.0/"+user)
	if got, err := s.decide(ctx, http.MethodGet, &exists); err != nil || got.row != nil {
		t.Fatalf("before registering: %+v, %v; want no row", got, err)
	}
	// Registered through another instance, homed on shard s2.
	if err := store.SetRoute(ctx, syncstore.Route{Username: user, State: syncstore.RouteNative, Shard: "s2"}); err != nil {
		t.Fatal(err)
	}
	clock.advance(time.Second)
	for _, path := range []string{"/user/1.0/" + user + "/node/weave", "/1.1/" + user + "/info/collections"} {
		req := httpapi.Parse(http.MethodGet, path)
		got, err := s.decide(ctx, http.MethodGet, &req)
		if err != nil || got.row == nil || got.row.Shard != "s2" {
			t.Errorf("GET %s after registering: %+v, %v; want the row naming shard s2", path, got, err)
		}
	}
}

// TestShimRereadsMigrating: a cached migrating row is never trusted, so
// a client coming back after migrating_retry_after is served by the new
// backend as soon as the migration flipped it, whatever route_cache_ttl
// says; other rows stay cached.
func TestShimRereadsMigrating(t *testing.T) {
	s, store, clock := newTestShim(t, prometheus.NewRegistry(), time.Hour, syncstore.RouteLegacy, "node1")
	ctx := context.Background()
	const user = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	req := httpapi.Parse(http.MethodGet, "/1.1/"+user+"/info/collections")
	read := func(want syncstore.RouteState) {
		t.Helper()
		got, err := s.decide(ctx, http.MethodGet, &req)
		if err != nil || got.state != want {
			t.Fatalf("read: %+v, %v; want %s", got, err, want)
		}
	}
	set := func(st syncstore.RouteState) {
		t.Helper()
		r := syncstore.Route{Username: user, State: st}
		if st == syncstore.RouteMigrating {
			r.Owner, r.LeaseExpires, r.Origin = "run", clock.now().Add(time.Minute), syncstore.RouteLegacy
		}
		if err := store.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	set(syncstore.RouteMigrating)
	read(syncstore.RouteMigrating) // cached, with an hour to live
	read(syncstore.RouteMigrating)
	set(syncstore.RouteNative) // the migrate tool flips the user elsewhere
	read(syncstore.RouteNative)
	// The native row is cached as before: a change is seen only after
	// the TTL.
	set(syncstore.RouteLegacy)
	read(syncstore.RouteNative)
	clock.advance(time.Hour)
	read(syncstore.RouteLegacy)
}

// TestPathUserDecodesLikeTheHandler: the native handler %-decodes every
// path segment, so "/%31.1/alice/…" is alice's storage. The shim must
// route it by alice's route too, or a migrating or legacy user could
// write natively by escaping the version (found by FuzzParseRoute).
func TestPathUserDecodesLikeTheHandler(t *testing.T) {
	for _, c := range []struct {
		path string
		user string
		slot bool
	}{
		{"/1.1/Alice/storage/bookmarks", "alice", true},
		{"/%31.1/alice/storage/bookmarks", "alice", true},
		{"/%31/alice/info/collections", "alice", true},
		{"/1.1/%61lice/storage", "alice", true},
		{"/%75ser/1.0/alice", "alice", true},
		{"/user/%31.0/alice/password", "alice", true},
		{"/1.1/bad!user/storage", "", true},
		{"/%31.1/bad!user/storage", "", true},
		{"/user/1.0/", "", true},
		{"/misc/1.0/captcha_html", "", false},
		{"/%zz/alice/storage", "", false},
		{"/__heartbeat__", "", false},
	} {
		req := httpapi.Parse(http.MethodGet, c.path)
		user, slot := req.User(), req.HasUserSegment()
		if user != c.user || slot != c.slot {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", c.path, user, slot, c.user, c.slot)
		}
	}
}
