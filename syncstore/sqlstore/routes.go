package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// The route table of the migration shim and the migrate tool
// (syncstore.RouteTable), in the routes table of migration 0002.

const routeColumns = "username, state, node, shard, owner, origin, lease_expires, last_error, updated"

func scanRoute(sc scanner) (*syncstore.Route, error) {
	var r syncstore.Route
	var state, origin string
	var lease, updated int64
	if err := sc.Scan(&r.Username, &state, &r.Node, &r.Shard, &r.Owner, &origin, &lease, &r.LastError, &updated); err != nil {
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

// routeValues are the insert arguments of r, updated at now.
func routeValues(r *syncstore.Route, now time.Time) []any {
	return []any{r.Username, string(r.State), r.Node, r.Shard, r.Owner, string(r.Origin), unixMilli(r.LeaseExpires), r.LastError, now.UnixMilli()}
}

const routeSQL = "SELECT " + routeColumns + " FROM routes WHERE username = ?"

// GetRoute returns the user's route or syncstore.ErrNoRoute. SQLite's
// readers see every transaction committed before their read began, so a
// swap just made by this process is seen.
func (s *Store) GetRoute(ctx context.Context, username string) (*syncstore.Route, error) {
	r, err := scanRoute(s.readRow(ctx, routeSQL, username))
	if isNoRows(err) {
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
	set := ""
	for i, col := range []string{"state", "node", "shard", "owner", "origin", "lease_expires", "last_error", "updated"} {
		if i > 0 {
			set += ", "
		}
		set += col + " = " + s.d.Excluded(col)
	}
	_, err := s.write.ExecContext(ctx, "INSERT INTO routes ("+routeColumns+") VALUES "+placeholders(1, 9)+
		s.d.OnConflict("username")+set, routeValues(&r, s.clock())...)
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
	now := s.clock()
	if old == nil {
		// A plain INSERT: the duplicate key error is the "row exists"
		// answer (INSERT IGNORE would swallow real errors too, and with
		// MySQL's CLIENT_FOUND_ROWS an upsert no-op also counts 1 row).
		_, err := s.write.ExecContext(ctx, "INSERT INTO routes ("+routeColumns+") VALUES "+placeholders(1, 9), routeValues(&next, now)...)
		if err != nil && s.d.IsDuplicate(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("creating the route of %q: %w", next.Username, err)
		}
		return true, nil
	}
	res, err := s.write.ExecContext(ctx, `UPDATE routes SET state = ?, node = ?, shard = ?, owner = ?, origin = ?, lease_expires = ?, last_error = ?, updated = ?
		WHERE username = ? AND state = ? AND node = ? AND shard = ? AND owner = ?`,
		string(next.State), next.Node, next.Shard, next.Owner, string(next.Origin), unixMilli(next.LeaseExpires), next.LastError, now.UnixMilli(),
		next.Username, string(old.State), old.Node, old.Shard, old.Owner)
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
	// Both backends report matched rows (SQLite always, MySQL through
	// CLIENT_FOUND_ROWS), so 0 means no match; should MySQL's flag ever be
	// dropped, a swap to identical values within one millisecond would
	// report 0 although it matched, so check whether the row now holds
	// exactly next.
	cur, err := s.GetRoute(ctx, next.Username)
	if errors.Is(err, syncstore.ErrNoRoute) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	same := cur.State == next.State && cur.Node == next.Node && cur.Shard == next.Shard && cur.Owner == next.Owner && cur.Origin == next.Origin &&
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
	rows, err := s.read.QueryContext(ctx, q, args...)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	return out, nil
}

// CountRoutes returns how many rows hold each stored state, for the
// shim's users-per-state gauge: one GROUP BY over the state index.
func (s *Store) CountRoutes(ctx context.Context) (map[syncstore.RouteState]int64, error) {
	out := map[syncstore.RouteState]int64{}
	err := s.queryNamed(ctx, func(state string, n int64) { out[syncstore.RouteState(state)] = n },
		"SELECT state, COUNT(*) FROM routes GROUP BY state")
	if err != nil {
		return nil, fmt.Errorf("counting routes: %w", err)
	}
	return out, nil
}
