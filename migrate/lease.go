package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// lease is a migrator's hold on one user's route row. Every change goes
// through CompareAndSwapRoute against the row as this lease last wrote
// it, so a run that lost its lease (expired and taken over) can never
// overwrite the new owner's state.
type lease struct {
	m   *Migrator
	cur syncstore.Route
}

// ErrLeaseLost: another run took the user over (our lease had expired).
var ErrLeaseLost = errors.New("lease lost: the route row changed under us")

// ErrBusy: another live run holds the user.
var ErrBusy = errors.New("user is locked by another migrate run")

// currentRoute returns the user's row, or the implicit legacy row for a
// user without one.
func (m *Migrator) currentRoute(ctx context.Context, name string) (*syncstore.Route, bool, error) {
	r, err := m.cfg.Routes.GetRoute(ctx, name)
	if errors.Is(err, syncstore.ErrNoRoute) {
		return &syncstore.Route{Username: name, State: syncstore.RouteLegacy, Node: m.cfg.Node}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the route of %q: %w", name, err)
	}
	return r, true, nil
}

// acquire takes the lease on name's row, whose current content is cur
// (exists=false: no row yet), keeping its state. A stale lease of a dead
// run is taken over; a migrating row left by one is first put back to its
// origin, which the returned lease reports as its state.
func (m *Migrator) acquire(ctx context.Context, cur *syncstore.Route, exists bool, origin syncstore.RouteState) (*lease, error) {
	now := m.now()
	if cur.LeaseHeld(now) && cur.Owner != m.owner {
		return nil, fmt.Errorf("%w (%s until %s)", ErrBusy, cur.Owner, cur.LeaseExpires.Format(time.RFC3339))
	}
	if m.cfg.Node != "" && cur.Node != "" && cur.Node != m.cfg.Node {
		return nil, fmt.Errorf("user %q lives on legacy node %q, not %q", cur.Username, cur.Node, m.cfg.Node)
	}
	next := *cur
	next.State = cur.Effective(now)
	if next.Node == "" {
		next.Node = m.cfg.Node
	}
	next.Owner = m.owner
	next.LeaseExpires = now.Add(m.cfg.LeaseTTL)
	next.Origin = origin
	var old *syncstore.Route
	if exists {
		old = cur
	}
	ok, err := m.cfg.Routes.CompareAndSwapRoute(ctx, old, next)
	if err != nil {
		return nil, fmt.Errorf("taking the lease on %q: %w", cur.Username, err)
	}
	if !ok {
		return nil, fmt.Errorf("taking the lease on %q: %w", cur.Username, ErrBusy)
	}
	return &lease{m: m, cur: next}, nil
}

// set moves the row to state (renewing the lease).
func (l *lease) set(ctx context.Context, state syncstore.RouteState) error {
	next := l.cur
	next.State = state
	next.LeaseExpires = l.m.now().Add(l.m.cfg.LeaseTTL)
	return l.swap(ctx, next)
}

// renew extends the lease once half of it has passed.
func (l *lease) renew(ctx context.Context) error {
	if l.m.now().Before(l.cur.LeaseExpires.Add(-l.m.cfg.LeaseTTL / 2)) {
		return nil
	}
	return l.set(ctx, l.cur.State)
}

// release ends the lease leaving the row in state with lastErr.
func (l *lease) release(ctx context.Context, state syncstore.RouteState, lastErr string) error {
	next := l.cur
	next.State = state
	next.Owner = ""
	next.Origin = ""
	next.LeaseExpires = time.Time{}
	if len(lastErr) > 1000 {
		lastErr = lastErr[:1000]
	}
	next.LastError = lastErr
	return l.swap(ctx, next)
}

// flipTo moves the row to native on shard, keeping the lease (a move
// still deletes the source copy under it) when keep is set, ending it
// otherwise.
func (l *lease) flipTo(ctx context.Context, shard string, keep bool) error {
	next := l.cur
	next.State = syncstore.RouteNative
	next.Shard = shard
	next.LastError = ""
	if keep {
		next.LeaseExpires = l.m.now().Add(l.m.cfg.LeaseTTL)
	} else {
		next.Owner, next.Origin, next.LeaseExpires = "", "", time.Time{}
	}
	return l.swap(ctx, next)
}

func (l *lease) swap(ctx context.Context, next syncstore.Route) error {
	old := l.cur
	ok, err := l.m.cfg.Routes.CompareAndSwapRoute(ctx, &old, next)
	if err != nil {
		return fmt.Errorf("updating the route of %q to %s: %w", next.Username, next.State, err)
	}
	if !ok {
		return ErrLeaseLost
	}
	l.cur = next
	return nil
}

// RecoverStale puts every route row whose lease has expired back in
// order: a migrating row returns to its origin, any other loses the dead
// owner. It returns how many rows it fixed. Each migrate run calls it
// first; the server may too.
func (m *Migrator) RecoverStale(ctx context.Context) (int, error) {
	if m.cfg.DryRun {
		return 0, nil
	}
	fixed := 0
	after := ""
	for {
		page, err := m.cfg.Routes.ListRoutes(ctx, after, 1000)
		if err != nil {
			return fixed, fmt.Errorf("listing routes: %w", err)
		}
		for i := range page {
			r := &page[i]
			now := m.now()
			if r.Owner == "" || r.LeaseHeld(now) {
				continue
			}
			next := *r
			next.State = r.Effective(now)
			next.Owner, next.Origin, next.LeaseExpires = "", "", time.Time{}
			if r.State == syncstore.RouteMigrating {
				next.LastError = fmt.Sprintf("lease of %s expired while migrating; put back to %s", r.Owner, next.State)
			}
			ok, err := m.cfg.Routes.CompareAndSwapRoute(ctx, r, next)
			if err != nil {
				return fixed, fmt.Errorf("recovering the route of %q: %w", r.Username, err)
			}
			if ok {
				fixed++
				m.log.Warn("recovered a stale lease", m.userField(r.Username), stringField("owner", r.Owner),
					stringField("from", string(r.State)), stringField("to", string(next.State)))
			}
		}
		if len(page) < 1000 {
			return fixed, nil
		}
		after = page[len(page)-1].Username
	}
}

// openWindow starts the user's 503 window: the route goes to migrating,
// the drain lets writes already forwarded finish, and the user's work
// becomes urgent so that other users' bulk copies yield (urgency.go). It
// records the window's start in res; the returned func ends the urgency.
func (m *Migrator) openWindow(ctx context.Context, l *lease, res *UserResult) (endUrgent func(), err error) {
	if err := m.step(stepMigrating); err != nil {
		return nil, at(stepMigrating, err)
	}
	if err := l.set(ctx, syncstore.RouteMigrating); err != nil {
		return nil, at(stepMigrating, err)
	}
	res.windowStart = time.Now()
	if err := drain(ctx, m.cfg.Drain); err != nil {
		return nil, at(stepMigrating, err)
	}
	return m.urgent.begin(), nil
}
