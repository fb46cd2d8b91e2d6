package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	mig "github.com/syncserver/syncserver/migrate"
)

// The route table of the migration shim and the migrate tool
// (migrate.RouteTable), in the routes table of migration 0002.
var _ mig.RouteTable = (*Store)(nil)

const routeColumns = "username, state, node, owner, origin, lease_expires, last_error, updated"

type rowScanner interface {
	Scan(dest ...any) error
}

func scanRoute(sc rowScanner) (*mig.Route, error) {
	var r mig.Route
	var state, origin string
	var lease, updated int64
	if err := sc.Scan(&r.Username, &state, &r.Node, &r.Owner, &origin, &lease, &r.LastError, &updated); err != nil {
		return nil, err
	}
	r.State, r.Origin = mig.RouteState(state), mig.RouteState(origin)
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

func checkRoute(r *mig.Route) error {
	if r.Username == "" || !r.State.Valid() {
		return fmt.Errorf("invalid route %q → %q", r.Username, r.State)
	}
	return nil
}

// GetRoute returns the user's route or migrate.ErrNoRoute.
func (s *Store) GetRoute(ctx context.Context, username string) (*mig.Route, error) {
	r, err := scanRoute(s.db.QueryRowContext(ctx, "SELECT "+routeColumns+" FROM routes WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("route of %q: %w", username, mig.ErrNoRoute)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the route of %q: %w", username, err)
	}
	return r, nil
}

// SetRoute writes r unconditionally.
func (s *Store) SetRoute(ctx context.Context, r mig.Route) error {
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
func (s *Store) CompareAndSwapRoute(ctx context.Context, old *mig.Route, next mig.Route) (bool, error) {
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
	if errors.Is(err, mig.ErrNoRoute) {
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
func (s *Store) ListRoutes(ctx context.Context, after string, limit int) ([]mig.Route, error) {
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
	var out []mig.Route
	for rows.Next() {
		r, err := scanRoute(rows)
		if err != nil {
			return nil, fmt.Errorf("listing routes: %w", err)
		}
		out = append(out, *r)
	}
	return out, rows.Err()
}
