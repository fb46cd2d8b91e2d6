package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// RunRouteTable runs the syncstore.RouteTable conformance suite against
// the route table of the stores open returns (found with
// syncstore.RouteTableOf, so through a caching layer too), one fresh store
// per subtest.
func RunRouteTable(t *testing.T, open Opener) {
	runContract(t, open, "route table", syncstore.RouteTableOf, []contractTest[syncstore.RouteTable]{
		{"CompareAndSwap", testRouteCompareAndSwap},
		{"Set", testRouteSet},
		{"ListCount", testRouteListCount},
	})
}

// contractTest is one subtest of a suite for a contract C besides Store.
type contractTest[C any] struct {
	name string
	fn   func(t *testing.T, e *env, c C)
}

// runContract runs tests, each on a fresh store, with the store's C as
// find returns it.
func runContract[C any](t *testing.T, open Opener, what string, find func(syncstore.Store) (C, bool), tests []contractTest[C]) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock(startTime)
			s := open(t, clock.Now)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			c, ok := find(s)
			if !ok {
				t.Fatalf("%T has no %s", s, what)
			}
			tc.fn(t, &env{ctx: context.Background(), store: s, clock: clock}, c)
		})
	}
}

func testRouteCompareAndSwap(t *testing.T, e *env, rt syncstore.RouteTable) {
	if _, err := rt.GetRoute(e.ctx, "alice"); !errors.Is(err, syncstore.ErrNoRoute) {
		t.Fatalf("GetRoute of a missing row: %v, want ErrNoRoute", err)
	}
	lease := startTime.Add(time.Minute + 123*time.Millisecond)
	r := syncstore.Route{Username: "alice", State: syncstore.RouteLegacy, Node: "n1", Shard: "s1", Owner: "run-1", LeaseExpires: lease, Origin: syncstore.RouteLegacy}
	if ok, err := rt.CompareAndSwapRoute(e.ctx, nil, r); !ok || err != nil {
		t.Fatalf("insert: %v, %v; want true", ok, err)
	}
	if ok, err := rt.CompareAndSwapRoute(e.ctx, nil, r); ok || err != nil {
		t.Fatalf("second insert: %v, %v; want false", ok, err)
	}
	got, err := rt.GetRoute(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != r.State || got.Node != "n1" || got.Shard != "s1" || got.Owner != "run-1" || !got.LeaseExpires.Equal(lease) ||
		got.Origin != syncstore.RouteLegacy || !got.Updated.Equal(startTime) {
		t.Fatalf("GetRoute = %+v; want %+v updated at %s", got, r, startTime)
	}
	// Renewing with identical values reports a match.
	if ok, err := rt.CompareAndSwapRoute(e.ctx, &r, r); !ok || err != nil {
		t.Fatalf("identical swap: %v, %v; want true", ok, err)
	}
	next := r
	next.State = syncstore.RouteMigrating
	for what, old := range map[string]syncstore.Route{
		"owner": {Username: "alice", State: r.State, Node: r.Node, Shard: r.Shard, Owner: "run-0"},
		"node":  {Username: "alice", State: r.State, Node: "n2", Shard: r.Shard, Owner: r.Owner},
		"shard": {Username: "alice", State: r.State, Node: r.Node, Shard: "s2", Owner: r.Owner},
		"state": {Username: "alice", State: syncstore.RouteNative, Node: r.Node, Shard: r.Shard, Owner: r.Owner},
	} {
		if ok, err := rt.CompareAndSwapRoute(e.ctx, &old, next); ok || err != nil {
			t.Fatalf("swap from another %s: %v, %v; want false", what, ok, err)
		}
	}
	e.clock.Advance(time.Second)
	if ok, err := rt.CompareAndSwapRoute(e.ctx, &r, next); !ok || err != nil {
		t.Fatalf("swap: %v, %v; want true", ok, err)
	}
	done := syncstore.Route{Username: "alice", State: syncstore.RouteNative, Node: "n1", Shard: "s2", LastError: "none"}
	if ok, err := rt.CompareAndSwapRoute(e.ctx, &next, done); !ok || err != nil {
		t.Fatalf("release: %v, %v; want true", ok, err)
	}
	got, err = rt.GetRoute(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != syncstore.RouteNative || got.Shard != "s2" || got.Owner != "" || !got.LeaseExpires.IsZero() || got.Origin != "" ||
		got.LastError != "none" || !got.Updated.Equal(startTime.Add(time.Second)) {
		t.Errorf("after release: %+v", got)
	}
	// The old row no longer matches.
	if ok, err := rt.CompareAndSwapRoute(e.ctx, &next, r); ok || err != nil {
		t.Errorf("swap from a replaced row: %v, %v; want false", ok, err)
	}
	// A swap of a user without a row writes nothing.
	if ok, err := rt.CompareAndSwapRoute(e.ctx, &syncstore.Route{Username: "bob", State: syncstore.RouteLegacy}, syncstore.Route{Username: "bob", State: syncstore.RouteNative}); ok || err != nil {
		t.Errorf("swap of a missing row: %v, %v; want false", ok, err)
	}
	if _, err := rt.GetRoute(e.ctx, "bob"); !errors.Is(err, syncstore.ErrNoRoute) {
		t.Errorf("GetRoute(bob) after a failed swap: %v, want ErrNoRoute", err)
	}
}

func testRouteSet(t *testing.T, e *env, rt syncstore.RouteTable) {
	for _, bad := range []syncstore.Route{{State: syncstore.RouteNative}, {Username: "alice", State: "sideways"}} {
		if err := rt.SetRoute(e.ctx, bad); err == nil {
			t.Errorf("SetRoute(%+v) succeeded, want an error", bad)
		}
	}
	if ok, err := rt.CompareAndSwapRoute(e.ctx, nil, syncstore.Route{Username: "alice", State: syncstore.RouteMigrating, Owner: "run-1", Origin: syncstore.RouteLegacy}); !ok || err != nil {
		t.Fatalf("insert: %v, %v", ok, err)
	}
	// SetRoute overwrites whatever is there, the lease included.
	e.clock.Advance(time.Minute)
	want := syncstore.Route{Username: "alice", State: syncstore.RouteLegacy, Node: "n2", LastError: "operator"}
	if err := rt.SetRoute(e.ctx, want); err != nil {
		t.Fatal(err)
	}
	if err := rt.SetRoute(e.ctx, syncstore.Route{Username: "carol", State: syncstore.RouteNative}); err != nil {
		t.Fatal(err)
	}
	got, err := rt.GetRoute(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if got.State != want.State || got.Node != want.Node || got.Owner != "" || got.Origin != "" || !got.LeaseExpires.IsZero() ||
		got.LastError != "operator" || !got.Updated.Equal(startTime.Add(time.Minute)) {
		t.Errorf("after SetRoute: %+v, want %+v", got, want)
	}
	if got, err := rt.GetRoute(e.ctx, "carol"); err != nil || got.State != syncstore.RouteNative {
		t.Errorf("GetRoute(carol) = %+v, %v", got, err)
	}
}

func testRouteListCount(t *testing.T, e *env, rt syncstore.RouteTable) {
	states := []syncstore.RouteState{syncstore.RouteLegacy, syncstore.RouteNative, syncstore.RouteMigrating}
	var names []string
	for i := range 7 {
		name := fmt.Sprintf("user%02d", 6-i)
		names = append(names, name)
		if err := rt.SetRoute(e.ctx, syncstore.Route{Username: name, State: states[i%3]}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(names)
	list := func(after string, limit int) []string {
		t.Helper()
		rs, err := rt.ListRoutes(e.ctx, after, limit)
		if err != nil {
			t.Fatalf("ListRoutes(%q, %d): %v", after, limit, err)
		}
		var out []string
		for _, r := range rs {
			out = append(out, r.Username)
		}
		return out
	}
	if got := list("", 0); !slices.Equal(got, names) {
		t.Errorf("ListRoutes(all) = %v, want %v", got, names)
	}
	if got := list("", 3); !slices.Equal(got, names[:3]) {
		t.Errorf("ListRoutes(first 3) = %v, want %v", got, names[:3])
	}
	if got := list(names[2], 3); !slices.Equal(got, names[3:6]) {
		t.Errorf("ListRoutes(after %s, 3) = %v, want %v", names[2], got, names[3:6])
	}
	if got := list(names[6], 0); len(got) != 0 {
		t.Errorf("ListRoutes(after the last) = %v, want none", got)
	}
	counts, err := rt.CountRoutes(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[syncstore.RouteState]int64{syncstore.RouteLegacy: 3, syncstore.RouteNative: 2, syncstore.RouteMigrating: 2}
	if !maps.Equal(counts, want) {
		t.Errorf("CountRoutes = %v, want %v", counts, want)
	}
}
