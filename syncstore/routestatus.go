package syncstore

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// RouteStatus is the route table at a glance: what `syncserver routes
// status` and `syncserver migrate status` both print.
type RouteStatus struct {
	// Users per effective state (an expired migrating lease counts as
	// its origin). Users without a row are not counted: they follow the
	// shim's default.
	States map[RouteState]int
	// Leases held right now, and expired ones not yet recovered.
	Held, Stale int
	// Failures are rows with a LastError, newest first.
	Failures []Route
}

// RouteLister pages through the route table in username order.
type RouteLister interface {
	ListRoutes(ctx context.Context, after string, limit int) ([]Route, error)
}

// routePage is how many rows EachRoute asks for at a time.
const routePage = 1000

// EachRoute calls fn for every row of the route table, in username order,
// a page at a time; it stops at fn's first error and returns it. Errors
// of the table are returned as they are, for the caller to wrap.
func EachRoute(ctx context.Context, routes RouteLister, fn func(r *Route) error) error {
	for after := ""; ; {
		page, err := routes.ListRoutes(ctx, after, routePage)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i]); err != nil {
				return err
			}
		}
		if len(page) < routePage {
			return nil
		}
		after = page[len(page)-1].Username
	}
}

// ReadRouteStatus scans the route table.
func ReadRouteStatus(ctx context.Context, routes RouteLister, now time.Time) (*RouteStatus, error) {
	st := &RouteStatus{States: map[RouteState]int{}}
	err := EachRoute(ctx, routes, func(r *Route) error {
		st.States[r.Effective(now)]++
		switch {
		case r.LeaseHeld(now):
			st.Held++
		case r.Owner != "":
			st.Stale++
		}
		if r.LastError != "" {
			st.Failures = append(st.Failures, *r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(st.Failures, func(i, j int) bool { return st.Failures[i].Updated.After(st.Failures[j].Updated) })
	return st, nil
}

// Write prints the status; at most recent failures are listed.
func (st *RouteStatus) Write(w io.Writer, recent int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "state\tusers\n")
	for _, s := range []RouteState{RouteLegacy, RouteMigrating, RouteNative} {
		fmt.Fprintf(tw, "%s\t%d\n", s, st.States[s])
	}
	tw.Flush()
	fmt.Fprintf(w, "leases held: %d, expired (recovered by the next run): %d\n", st.Held, st.Stale)
	if len(st.Failures) == 0 {
		return
	}
	fmt.Fprintf(w, "\nrecent failures (%d users with a recorded error):\n", len(st.Failures))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  when\tuser\tstate\terror\n")
	for _, r := range st.Failures[:min(recent, len(st.Failures))] {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", r.Updated.UTC().Format(time.RFC3339), r.Username, r.State, r.LastError)
	}
	tw.Flush()
}
