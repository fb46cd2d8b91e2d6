package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// CheckAggregates compares user_collections with the aggregates computed
// from the rows themselves: the incremental maintenance must never drift.
func CheckAggregates(t testing.TB, db *sql.DB, step string) {
	t.Helper()
	const q = `SELECT COALESCE(a.user_id, b.user_id), COALESCE(a.collection_id, b.collection_id),
  a.modified, a.record_count, a.total_bytes, b.modified, b.n, b.bytes
FROM user_collections a
LEFT JOIN (SELECT user_id, collection_id, MAX(modified) modified, COUNT(*) n, SUM(payload_size) bytes
           FROM wbo GROUP BY user_id, collection_id) b
  ON a.user_id = b.user_id AND a.collection_id = b.collection_id
UNION ALL
SELECT b.user_id, b.collection_id, NULL, NULL, NULL, b.modified, b.n, b.bytes
FROM (SELECT user_id, collection_id, MAX(modified) modified, COUNT(*) n, SUM(payload_size) bytes
      FROM wbo GROUP BY user_id, collection_id) b
LEFT JOIN user_collections a ON a.user_id = b.user_id AND a.collection_id = b.collection_id
WHERE a.user_id IS NULL`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid, cid int64
		var stored, actual [3]*int64
		if err := rows.Scan(&uid, &cid, &stored[0], &stored[1], &stored[2], &actual[0], &actual[1], &actual[2]); err != nil {
			t.Fatal(err)
		}
		show := func(v [3]*int64) string {
			if v[0] == nil {
				return "no row"
			}
			return fmt.Sprintf("modified %d count %d bytes %d", *v[0], *v[1], *v[2])
		}
		same := (stored[0] == nil) == (actual[0] == nil)
		for i := 0; same && stored[0] != nil && i < 3; i++ {
			same = *stored[i] == *actual[i]
		}
		if !same {
			t.Fatalf("after %s: user %d collection %d aggregates say %s, rows say %s", step, uid, cid, show(stored), show(actual))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// checkUsedBytes compares a write's UsedBytes with the payload bytes the
// user's rows hold.
func checkUsedBytes(t testing.TB, db *sql.DB, userID int64, used int64, step string) {
	t.Helper()
	var want int64
	if err := db.QueryRow("SELECT COALESCE(SUM(payload_size), 0) FROM wbo WHERE user_id = ?", userID).Scan(&want); err != nil {
		t.Fatal(err)
	}
	if used != want {
		t.Fatalf("after %s: UsedBytes %d, rows hold %d", step, used, want)
	}
}

// RunAggregates runs a seeded random mix of every write against two
// users of the store open returns and checks user_collections against
// the rows after each one: the incremental maintenance of the aggregates
// (deletes size what they remove instead of rescanning) must never drift,
// whichever way an engine sizes a delete.
func RunAggregates(t *testing.T, open func(t *testing.T, clock func() time.Time) (syncstore.Store, SQLDB)) {
	clock := newFakeClock(time.Unix(1_400_000_000, 0))
	s, db := open(t, clock.Now)
	ctx := context.Background()
	var users []int64
	for _, name := range []string{"alice", "bob"} {
		u := &syncstore.User{Name: name, PasswordHash: "h"}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		users = append(users, u.ID)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	colls := []string{"bookmarks", "history", "custom-a"}
	randID := func() string { return fmt.Sprintf("id%02d", rng.IntN(30)) }
	for step := range 300 {
		uid := users[rng.IntN(len(users))]
		coll := colls[rng.IntN(len(colls))]
		var what string
		var err error
		switch op := rng.IntN(21); {
		case op < 10:
			recs := make([]syncstore.WBO, 1+rng.IntN(8))
			for i := range recs {
				recs[i].ID = randID()
				if rng.IntN(3) > 0 {
					recs[i].Payload = new(strings.Repeat("x", rng.IntN(50)))
				}
				if rng.IntN(3) == 0 {
					recs[i].SortIndex = new(int64(rng.IntN(10)))
				}
				if rng.IntN(4) == 0 {
					recs[i].TTL = new(int64(rng.IntN(20)))
				}
			}
			what = fmt.Sprintf("put of %d records", len(recs))
			_, err = s.PutRecords(ctx, uid, coll, recs, syncstore.WriteOptions{})
		case op < 12:
			ids := []string{randID(), randID(), randID()}
			what = fmt.Sprintf("delete of %v", ids)
			_, err = s.DeleteRecords(ctx, uid, coll, &syncstore.Query{IDs: ids}, syncstore.WriteOptions{})
		case op < 13:
			// Long lists, repeats included: every prepared list shape,
			// and past the engines' longest one.
			ids := make([]string, 1+rng.IntN(300))
			for i := range ids {
				ids[i] = randID()
			}
			what = fmt.Sprintf("delete of %d ids", len(ids))
			_, err = s.DeleteRecords(ctx, uid, coll, &syncstore.Query{IDs: ids}, syncstore.WriteOptions{})
		case op < 15:
			q := &syncstore.Query{Limit: 1 + rng.IntN(4), Offset: rng.IntN(3), Sort: syncstore.Sort(rng.IntN(4))}
			what = fmt.Sprintf("delete with %+v", *q)
			_, err = s.DeleteRecords(ctx, uid, coll, q, syncstore.WriteOptions{})
		case op < 16:
			above := float64(rng.IntN(10))
			what = fmt.Sprintf("delete with index_above %v", above)
			_, err = s.DeleteRecords(ctx, uid, coll, &syncstore.Query{IndexAbove: &above}, syncstore.WriteOptions{})
		case op < 18:
			clock.Advance(time.Duration(rng.IntN(10)) * time.Second)
			what = "purge"
			_, err = s.PurgeExpired(ctx, clock.Now(), rng.IntN(5))
		case op < 19:
			what = "delete of a collection"
			_, err = s.DeleteRecords(ctx, uid, coll, &syncstore.Query{}, syncstore.WriteOptions{})
		case op < 20:
			what = "delete of storage"
			_, err = s.DeleteStorage(ctx, uid)
		default:
			// Every record with a payload (where an upsert may tally what
			// it overwrites instead of reading it first), repeats
			// included, up to past the engines' longest statement.
			recs := make([]syncstore.WBO, 1+rng.IntN(600))
			for i := range recs {
				recs[i].ID = randID()
				if rng.IntN(2) == 0 {
					recs[i].ID = fmt.Sprintf("big%03d", rng.IntN(700))
				}
				recs[i].Payload = new(strings.Repeat("y", rng.IntN(50)))
				if rng.IntN(4) == 0 {
					recs[i].TTL = new(int64(rng.IntN(20)))
				}
			}
			what = fmt.Sprintf("put of %d records with payloads", len(recs))
			var res *syncstore.WriteResult
			if res, err = s.PutRecords(ctx, uid, coll, recs, syncstore.WriteOptions{}); err == nil {
				checkUsedBytes(t, db.DB(), uid, res.UsedBytes, fmt.Sprintf("step %d (%s)", step, what))
			}
		}
		if err != nil {
			t.Fatalf("step %d, %s: %v", step, what, err)
		}
		CheckAggregates(t, db.DB(), fmt.Sprintf("step %d (%s)", step, what))
	}
}
