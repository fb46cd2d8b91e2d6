package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// The route table of the migration shim and the migrate tool (their
// RouteTable interfaces), in the routes table of migration 0002.

const routeColumns = "username, state, node, owner, origin, lease_expires, last_error, updated"

type rowScanner interface {
	Scan(dest ...any) error
}

func scanRoute(sc rowScanner) (*syncstore.Route, error) {
	var r syncstore.Route
	var state, origin string
	var lease, updated int64
	if err := sc.Scan(&r.Username, &state, &r.Node, &r.Owner, &origin, &lease, &r.LastError, &updated); err != nil {
		return nil, err
	}
	r.State, r.Origin = syncstore.RouteState(state), syncstore.RouteState(origin)
	if lease != 0 {
		r.LeaseExpires = time.UnixMilli(lease)
	}
	r.Updated = time.UnixMilli(updated)
	return &r, nil
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func checkRoute(r *syncstore.Route) error {
	if r.Username == "" || !r.State.Valid() {
		return fmt.Errorf("invalid route %q → %q", r.Username, r.State)
	}
	return nil
}

// GetRoute returns the user's route or syncstore.ErrNoRoute.
func (s *Store) GetRoute(ctx context.Context, username string) (*syncstore.Route, error) {
	r, err := scanRoute(s.db.QueryRowContext(ctx, "SELECT "+routeColumns+" FROM routes WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("route of %q: %w", username, syncstore.ErrNoRoute)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the route of %q: %w", username, err)
	}
	return r, nil
}

// SetRoute writes r unconditionally.
func (s *Store) SetRoute(ctx context.Context, r syncstore.Route) error {
	if err := checkRoute(&r); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, "INSERT INTO routes ("+routeColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"+
		` ON DUPLICATE KEY UPDATE state = VALUES(state), node = VALUES(node), owner = VALUES(owner), origin = VALUES(origin),
			lease_expires = VALUES(lease_expires), last_error = VALUES(last_error), updated = VALUES(updated)`,
		r.Username, string(r.State), r.Node, r.Owner, string(r.Origin), unixMilli(r.LeaseExpires), r.LastError, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("setting the route of %q: %w", r.Username, err)
	}
	return nil
}

// CompareAndSwapRoute writes next if the row still matches old.
func (s *Store) CompareAndSwapRoute(ctx context.Context, old *syncstore.Route, next syncstore.Route) (bool, error) {
	if err := checkRoute(&next); err != nil {
		return false, err
	}
	now := s.now().UnixMilli()
	if old == nil {
		// A plain INSERT: the duplicate key error is the "row exists"
		// answer (INSERT IGNORE would swallow real errors too, and with
		// CLIENT_FOUND_ROWS an ON DUPLICATE KEY no-op also counts 1 row).
		_, err := s.db.ExecContext(ctx, "INSERT INTO routes ("+routeColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			next.Username, string(next.State), next.Node, next.Owner, string(next.Origin), unixMilli(next.LeaseExpires), next.LastError, now)
		if errorNumber(err) == errDuplicateKey {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("creating the route of %q: %w", next.Username, err)
		}
		return true, nil
	}
	res, err := s.db.ExecContext(ctx, `UPDATE routes SET state = ?, node = ?, owner = ?, origin = ?, lease_expires = ?, last_error = ?, updated = ?
		WHERE username = ? AND state = ? AND node = ? AND owner = ?`,
		string(next.State), next.Node, next.Owner, string(next.Origin), unixMilli(next.LeaseExpires), next.LastError, now,
		next.Username, string(old.State), old.Node, old.Owner)
	if err != nil {
		return false, fmt.Errorf("swapping the route of %q: %w", next.Username, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("swapping the route of %q: %w", next.Username, err)
	}
	if n == 1 {
		return true, nil
	}
	// The store's connections report matched rows (CLIENT_FOUND_ROWS), so
	// 0 means no match; should that flag ever be dropped, a swap to
	// identical values within one millisecond would report 0 although it
	// matched, so check whether the row now holds exactly next.
	cur, err := s.GetRoute(ctx, next.Username)
	if errors.Is(err, syncstore.ErrNoRoute) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	same := cur.State == next.State && cur.Node == next.Node && cur.Owner == next.Owner && cur.Origin == next.Origin &&
		unixMilli(cur.LeaseExpires) == unixMilli(next.LeaseExpires) && cur.LastError == next.LastError
	return same, nil
}

// ListRoutes returns up to limit routes after the given name, by name.
func (s *Store) ListRoutes(ctx context.Context, after string, limit int) ([]syncstore.Route, error) {
	q := "SELECT " + routeColumns + " FROM routes WHERE username > ? ORDER BY username"
	args := []any{after}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	defer rows.Close()
	var out []syncstore.Route
	for rows.Next() {
		r, err := scanRoute(rows)
		if err != nil {
			return nil, fmt.Errorf("listing routes: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}

// CountRoutes returns how many rows hold each stored state, for the
// shim's users-per-state gauge: one GROUP BY over the state index.
func (s *Store) CountRoutes(ctx context.Context) (map[syncstore.RouteState]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT state, COUNT(*) FROM routes GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("counting routes: %w", err)
	}
	defer rows.Close()
	out := map[syncstore.RouteState]int64{}
	for rows.Next() {
		var state string
		var n int64
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("counting routes: %w", err)
		}
		out[syncstore.RouteState(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting routes: %w", err)
	}
	return out, nil
}
