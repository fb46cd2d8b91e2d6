package migrate

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// Status is the route table at a glance.
type Status struct {
	// Users per effective state (an expired migrating lease counts as
	// its origin). Users without a row are not counted: they follow the
	// shim's default.
	States map[syncstore.RouteState]int
	// Leases held right now, and expired ones not yet recovered.
	Held, Stale int
	// Failures are rows with a LastError, newest first.
	Failures []syncstore.Route
}

// ReadStatus scans the route table.
func ReadStatus(ctx context.Context, routes syncstore.RouteTable, now time.Time) (*Status, error) {
	st := &Status{States: map[syncstore.RouteState]int{}}
	after := ""
	for {
		page, err := routes.ListRoutes(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		for _, r := range page {
			st.States[r.Effective(now)]++
			switch {
			case r.LeaseHeld(now):
				st.Held++
			case r.Owner != "":
				st.Stale++
			}
			if r.LastError != "" {
				st.Failures = append(st.Failures, r)
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Username
	}
	sort.Slice(st.Failures, func(i, j int) bool { return st.Failures[i].Updated.After(st.Failures[j].Updated) })
	return st, nil
}

// Write prints the status; at most recent failures are listed.
func (st *Status) Write(w io.Writer, recent int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "state\tusers\n")
	for _, s := range []syncstore.RouteState{syncstore.RouteLegacy, syncstore.RouteMigrating, syncstore.RouteNative} {
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
