package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// purgeBatch is how many expired rows one round of PurgeExpired picks. Each
// user's share is deleted in a short transaction of its own, so the purge
// never holds many users' locks (or SQLite's write lock) for long.
const purgeBatch = 1000

// noExpiry is syncstore.NoExpiry as SQL text.
var noExpiry = strconv.FormatInt(syncstore.NoExpiry, 10)

// rowKey is a wbo primary key.
type rowKey struct {
	userID int64
	collID int
	id     string
}

// PurgeExpired deletes up to limit records whose expiry is at or before
// now (all when limit <= 0) and returns how many went. It takes each
// user's lock like a write, so the aggregates stay exact, but does not
// change the user's write timestamp: clients did not write anything.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int64, error) {
	cutoff := now.Unix()
	var total int64
	for limit <= 0 || total < int64(limit) {
		want := purgeBatch
		if limit > 0 {
			want = int(min(int64(want), int64(limit)-total))
		}
		keys, err := s.expiredKeys(ctx, cutoff, want)
		if err != nil {
			return total, err
		}
		var round int64
		for len(keys) > 0 {
			n := 1
			for n < len(keys) && keys[n].userID == keys[0].userID {
				n++
			}
			deleted, err := s.purgeUser(ctx, keys[0].userID, keys[:n], cutoff)
			if err != nil {
				return total + round, err
			}
			round += deleted
			keys = keys[n:]
		}
		total += round
		// A short round means nothing is left; an empty one means every
		// candidate was rewritten meanwhile, so stop rather than spin.
		if round == 0 || round < int64(want) {
			break
		}
	}
	return total, nil
}

// expiredKeys picks up to n expired rows, through the expiry index (which
// holds the primary key, so the table itself is not read), sorted by user
// and collection. The literal bound lets SQLite use its partial index of
// records that expire at all (migration 0003); it never excludes a row
// the cutoff would select.
func (s *Store) expiredKeys(ctx context.Context, cutoff int64, n int) ([]rowKey, error) {
	rows, err := s.read.QueryContext(ctx,
		"SELECT user_id, collection_id, id FROM wbo WHERE expiry <= ? AND expiry < "+noExpiry+" ORDER BY expiry LIMIT ?", cutoff, n)
	if err != nil {
		return nil, fmt.Errorf("finding expired records: %w", err)
	}
	defer rows.Close()
	var keys []rowKey
	for rows.Next() {
		var k rowKey
		if err := rows.Scan(&k.userID, &k.collID, &k.id); err != nil {
			return nil, fmt.Errorf("finding expired records: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("finding expired records: %w", err)
	}
	slices.SortFunc(keys, func(a, b rowKey) int {
		return cmp.Or(cmp.Compare(a.userID, b.userID), cmp.Compare(a.collID, b.collID))
	})
	return keys, nil
}

// purgeUser deletes those of keys (all of one user, sorted by collection)
// that are still expired, and fixes the aggregates.
func (s *Store) purgeUser(ctx context.Context, userID int64, keys []rowKey, cutoff int64) (int64, error) {
	var deleted int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		deleted = 0
		lock, err := s.lockUser(ctx, tx, userID)
		orphan := errors.Is(err, syncstore.ErrNotFound)
		if err != nil && !orphan {
			return err
		}
		for ks := keys; len(ks) > 0; {
			n := 1
			for n < len(ks) && ks[n].collID == ks[0].collID {
				n++
			}
			collID := ks[0].collID
			ids := make([]string, n)
			for i, k := range ks[:n] {
				ids[i] = k.id
			}
			ks = ks[n:]

			// The expiry is checked again under the lock: a write may have
			// revived a record since it was picked.
			size := s.newSelector(sizeSQL, userID, collID)
			size.ids(ids)
			size.and("expiry <= ?", cutoff)
			var g gone
			if err := s.queryRow(ctx, tx, size.sql.String(), size.args...).Scan(&g.count, &g.bytes, &g.newest); err != nil {
				return fmt.Errorf("sizing expired records: %w", err)
			}
			if g.count == 0 {
				continue
			}
			del := s.newSelector(deleteSQL, userID, collID)
			del.ids(ids)
			del.and("expiry <= ?", cutoff)
			if _, err := tx.ExecContext(ctx, del.sql.String(), del.args...); err != nil {
				return fmt.Errorf("deleting expired records: %w", err)
			}
			deleted += g.count
			if orphan {
				continue
			}
			if coll, ok := lock.collection(collID); ok {
				if _, err := s.shrinkCollection(ctx, tx, userID, coll, g, 0); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("purging expired records of user %d: %w", userID, err)
	}
	return deleted, nil
}
