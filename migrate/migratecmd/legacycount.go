package migratecmd

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
)

// legacyCounts says where the legacy database's users are now. The route
// table alone cannot: a user the shim has only ever proxied has no row, so
// `routes status` does not count them, although they are most of the users
// before a migration.
type legacyCounts struct {
	Users  int                          // in the legacy database
	NoRow  int                          // without a route row: the shim's default_state
	States map[syncstore.RouteState]int // the others, by effective route state
}

// countLegacyUsers reads every route row, then every legacy user. It
// also returns each row's stored state, for the caller to filter by.
func countLegacyUsers(ctx context.Context, lg *migrate.LegacyDB, routes syncstore.RouteLister, now time.Time) (*legacyCounts, map[string]syncstore.RouteState, error) {
	state := map[string]syncstore.RouteState{}
	stored := map[string]syncstore.RouteState{}
	err := syncstore.EachRoute(ctx, routes, func(r *syncstore.Route) error {
		state[r.Username] = r.Effective(now)
		stored[r.Username] = r.State
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the route table: %w", err)
	}
	c := &legacyCounts{States: map[syncstore.RouteState]int{}}
	err = lg.Users(ctx, func(u *migrate.LegacyUser) error {
		c.Users++
		if s, ok := state[syncstore.NormalizeUsername(u.Name)]; ok {
			c.States[s]++
		} else {
			c.NoRow++
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing legacy users: %w", err)
	}
	return c, stored, nil
}

func (c *legacyCounts) write(w io.Writer) {
	fmt.Fprintf(w, "legacy database: %d users: %d without a route row (served as the shim's default_state, legacy unless configured), %d legacy, %d migrating, %d native\n",
		c.Users, c.NoRow, c.States[syncstore.RouteLegacy], c.States[syncstore.RouteMigrating], c.States[syncstore.RouteNative])
}
