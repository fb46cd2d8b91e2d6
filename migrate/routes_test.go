package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// TestRouteTable runs the RouteTable contract against both backends.
func TestRouteTable(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(testing.TB, func() time.Time) native
	}{{"sqlite", openSQLite}, {"mysql", openMySQL}} {
		t.Run(b.name, func(t *testing.T) {
			rt := b.open(t, time.Now)
			ctx := context.Background()
			if _, err := rt.GetRoute(ctx, "alice"); !errors.Is(err, syncstore.ErrNoRoute) {
				t.Fatalf("GetRoute of a missing row: %v", err)
			}
			lease := time.Now().Add(time.Minute).Truncate(time.Millisecond)
			r := syncstore.Route{Username: "alice", State: syncstore.RouteLegacy, Node: "n1", Owner: "run-1", LeaseExpires: lease, Origin: syncstore.RouteLegacy}
			if ok, err := rt.CompareAndSwapRoute(ctx, nil, r); !ok || err != nil {
				t.Fatalf("insert: %v %v", ok, err)
			}
			if ok, err := rt.CompareAndSwapRoute(ctx, nil, r); ok || err != nil {
				t.Fatalf("second insert: %v %v, want false", ok, err)
			}
			got, err := rt.GetRoute(ctx, "alice")
			if err != nil || got.State != r.State || got.Node != "n1" || got.Owner != "run-1" || !got.LeaseExpires.Equal(lease) || got.Origin != syncstore.RouteLegacy || got.Updated.IsZero() {
				t.Fatalf("GetRoute = %+v, %v", got, err)
			}
			// Renewing with identical values still reports a match.
			if ok, err := rt.CompareAndSwapRoute(ctx, &r, r); !ok || err != nil {
				t.Fatalf("identical swap: %v %v", ok, err)
			}
			next := r
			next.State = syncstore.RouteMigrating
			stale := r
			stale.Owner = "run-0"
			if ok, err := rt.CompareAndSwapRoute(ctx, &stale, next); ok || err != nil {
				t.Fatalf("swap from another owner: %v %v, want false", ok, err)
			}
			other := r
			other.Node = "n2"
			if ok, err := rt.CompareAndSwapRoute(ctx, &other, next); ok || err != nil {
				t.Fatalf("swap from another node: %v %v, want false", ok, err)
			}
			if ok, err := rt.CompareAndSwapRoute(ctx, &r, next); !ok || err != nil {
				t.Fatalf("swap: %v %v", ok, err)
			}
			done := syncstore.Route{Username: "alice", State: syncstore.RouteNative, Node: "n1", LastError: ""}
			if ok, err := rt.CompareAndSwapRoute(ctx, &next, done); !ok || err != nil {
				t.Fatalf("release: %v %v", ok, err)
			}
			if got, _ := rt.GetRoute(ctx, "alice"); got.Owner != "" || !got.LeaseExpires.IsZero() || got.State != syncstore.RouteNative {
				t.Errorf("after release: %+v", got)
			}
			if err := rt.SetRoute(ctx, syncstore.Route{Username: "alice", State: syncstore.RouteLegacy, LastError: "operator"}); err != nil {
				t.Fatal(err)
			}
			if got, _ := rt.GetRoute(ctx, "alice"); got.State != syncstore.RouteLegacy || got.Node != "" || got.LastError != "operator" {
				t.Errorf("after SetRoute: %+v", got)
			}
			if err := rt.SetRoute(ctx, syncstore.Route{Username: "bob", State: "sideways"}); err == nil {
				t.Error("SetRoute accepted an unknown state")
			}
			for i := range 25 {
				if err := rt.SetRoute(ctx, syncstore.Route{Username: fmt.Sprintf("u%02d", i), State: syncstore.RouteNative}); err != nil {
					t.Fatal(err)
				}
			}
			var all []string
			after := ""
			for {
				page, err := rt.ListRoutes(ctx, after, 10)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range page {
					all = append(all, p.Username)
				}
				if len(page) < 10 {
					break
				}
				after = page[len(page)-1].Username
			}
			if len(all) != 26 || all[0] != "alice" || all[25] != "u24" {
				t.Errorf("ListRoutes paged: %v", all)
			}
			// The shim's users-per-state gauge: counts by stored state.
			counter, ok := rt.(interface {
				CountRoutes(context.Context) (map[syncstore.RouteState]int64, error)
			})
			if !ok {
				t.Fatalf("%T has no CountRoutes", rt)
			}
			counts, err := counter.CountRoutes(ctx)
			if err != nil || len(counts) != 2 || counts[syncstore.RouteLegacy] != 1 || counts[syncstore.RouteNative] != 25 {
				t.Errorf("CountRoutes = %v, %v; want legacy 1, native 25", counts, err)
			}
		})
	}
}
