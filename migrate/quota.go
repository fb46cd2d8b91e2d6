package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/syncserver/syncserver/syncstore"
)

// PayloadBytes is what legacy user u stores, counted as the native quota
// counts it: the bytes of every payload.
func (l *LegacyDB) PayloadBytes(ctx context.Context, u *LegacyUser) (int64, error) {
	var (
		q   = "SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM " + l.schema.wboTable(u.ID) + " WHERE username = ?"
		arg any
		n   int64
	)
	switch l.schema.Variant {
	case VariantMozilla:
		arg = u.ID
	default:
		arg = u.Name
	}
	if err := l.db.QueryRowContext(ctx, q, arg).Scan(&n); err != nil {
		return 0, fmt.Errorf("measuring legacy user %q: %w", u.Name, err)
	}
	return n, nil
}

// UserBytes is a user and the payload bytes they store.
type UserBytes struct {
	User  string
	Bytes int64
}

// OverQuota returns, in name order, the users among names (all legacy users when names is
// nil) that store at least quota bytes on the legacy server: once native,
// every upload of theirs would be refused (Weave error 14) until they
// delete data. The legacy PHP servers had no quota, so this is the moment
// to find them. quota <= 0 means no quota: nobody is over it.
func OverQuota(ctx context.Context, lg *LegacyDB, names []string, quota int64) ([]UserBytes, error) {
	if quota <= 0 {
		return nil, nil
	}
	// Many users: one aggregate pass over the record tables beats a
	// query per user.
	if names == nil || len(names) > perUserLimit {
		totals, err := lg.usersAtOrAbove(ctx, quota)
		if err != nil {
			return nil, err
		}
		var over []UserBytes
		if names == nil {
			for name, n := range totals {
				over = append(over, UserBytes{User: name, Bytes: n})
			}
		} else {
			for _, name := range names {
				if n, ok := totals[syncstore.NormalizeUsername(name)]; ok {
					over = append(over, UserBytes{User: syncstore.NormalizeUsername(name), Bytes: n})
				}
			}
		}
		sort.Slice(over, func(i, j int) bool { return over[i].User < over[j].User })
		return over, nil
	}
	var over []UserBytes
	for _, name := range names {
		u, err := lg.LookupUser(ctx, name)
		if err != nil {
			return nil, err
		}
		n, err := lg.PayloadBytes(ctx, u)
		if err != nil {
			return nil, err
		}
		if n >= quota {
			over = append(over, UserBytes{User: u.NativeName(), Bytes: n})
		}
	}
	sort.Slice(over, func(i, j int) bool { return over[i].User < over[j].User })
	return over, nil
}

// perUserLimit is the selection size up to which OverQuota measures each
// user by itself rather than aggregating the whole database.
const perUserLimit = 50

// usersAtOrAbove returns, by native name, the payload bytes of every
// legacy user storing at least quota bytes, in one GROUP BY per record
// table.
func (l *LegacyDB) usersAtOrAbove(ctx context.Context, quota int64) (map[string]int64, error) {
	const sum = "SUM(COALESCE(LENGTH(payload), 0))"
	out := map[string]int64{}
	if l.schema.Variant != VariantMozilla {
		rows, err := l.db.QueryContext(ctx, "SELECT CAST(username AS BINARY), "+sum+" FROM "+l.schema.wboTable(0)+
			" GROUP BY username HAVING "+sum+" >= ?", quota)
		if err != nil {
			return nil, fmt.Errorf("measuring legacy users: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var n int64
			if err := rows.Scan(&name, &n); err != nil {
				return nil, fmt.Errorf("measuring legacy users: %w", err)
			}
			out[syncstore.NormalizeUsername(name)] += n
		}
		return out, rows.Err()
	}
	// Mozilla PHP keys records by users.id, possibly over several tables.
	tables := []string{l.schema.wboTable(0)}
	for i := int64(1); i < int64(l.schema.Shards); i++ {
		tables = append(tables, l.schema.wboTable(i))
	}
	byID := map[int64]int64{}
	for _, t := range tables {
		if err := func() error {
			rows, err := l.db.QueryContext(ctx, "SELECT username, "+sum+" FROM "+t+" GROUP BY username HAVING "+sum+" >= ?", quota)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, n int64
				if err := rows.Scan(&id, &n); err != nil {
					return err
				}
				byID[id] = n
			}
			return rows.Err()
		}(); err != nil {
			return nil, fmt.Errorf("measuring legacy users in %s: %w", t, err)
		}
	}
	for id, n := range byID {
		var name string
		err := l.db.QueryRowContext(ctx, "SELECT CAST(username AS BINARY) FROM "+l.schema.usersTable()+" WHERE id = ?", id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			continue // records of a deleted account
		}
		if err != nil {
			return nil, fmt.Errorf("naming legacy user %d: %w", id, err)
		}
		out[syncstore.NormalizeUsername(name)] = n
	}
	return out, nil
}

// WriteOverQuota lists users at or above the quota.
func WriteOverQuota(w io.Writer, over []UserBytes, quota int64) {
	fmt.Fprintf(w, "%d users at or above the native quota of %s (their uploads would fail with error 14 once native):\n", len(over), FormatBytes(quota))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  user\tstored\n")
	for _, u := range over {
		fmt.Fprintf(tw, "  %s\t%s\n", u.User, FormatBytes(u.Bytes))
	}
	tw.Flush()
}
