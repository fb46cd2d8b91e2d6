package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// questions reads the statements the server counted on the store's only
// connection (Config.MaxOpenConns 1), the SHOW itself included.
func questions(t *testing.T, s *Store) int {
	t.Helper()
	return sessionStatus(t, s, "Questions")
}

// sessionStatus reads a counter of SHOW SESSION STATUS on the store's
// only connection.
func sessionStatus(t *testing.T, s *Store, counter string) int {
	t.Helper()
	var name string
	var n int
	if err := s.DB().QueryRow("SHOW SESSION STATUS LIKE ?", counter).Scan(&name, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// turnCounter counts the round trips on the connections it dials: each
// write that follows a read (or opens the connection) starts one. With a
// delay, each waits that long first, like a network farther than
// loopback.
type turnCounter struct {
	delay time.Duration
	mu    sync.Mutex
	turns int
	// lose says the next round trip finds the connection dead: nothing
	// is written, and the connection is closed.
	lose bool
}

// loseNext makes the next round trip on any connection fail as on a
// connection the server dropped while it sat in the pool.
func (c *turnCounter) loseNext() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lose = true
}

func (c *turnCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: c, read: true}, nil
}

func (c *turnCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.turns
}

type countingConn struct {
	net.Conn
	c *turnCounter
	// read says the last thing on the connection was a read.
	read bool
}

func (cc *countingConn) Write(b []byte) (int, error) {
	if cc.read {
		cc.c.mu.Lock()
		cc.c.turns++
		lose := cc.c.lose
		cc.c.lose = false
		cc.c.mu.Unlock()
		if lose {
			cc.Conn.Close()
			return 0, errors.New("test: connection lost")
		}
		cc.read = false
		if cc.c.delay > 0 {
			time.Sleep(cc.c.delay)
		}
	}
	return cc.Conn.Write(b)
}

func (cc *countingConn) Read(b []byte) (int, error) {
	cc.read = true
	return cc.Conn.Read(b)
}

func batchOf(prefix string, n int) []syncstore.WBO {
	recs := make([]syncstore.WBO, n)
	for i := range recs {
		recs[i] = syncstore.WBO{ID: fmt.Sprintf("%s%03d", prefix, i), Payload: ptr(strings.Repeat("p", 300)), SortIndex: ptr(int64(i))}
	}
	return recs
}

// TestStatementsPerPutRecords pins the statements and the network round
// trips of the write requests: no statement per record (no N+1), and the
// statements whose results are not read travel with the COMMIT
// (fusedtx.go).
func TestStatementsPerPutRecords(t *testing.T) {
	for _, noReturning := range []bool{false, true} {
		t.Run(fmt.Sprintf("noReturning=%v", noReturning), func(t *testing.T) {
			testStatementsPerWrite(t, noReturning)
		})
	}
}

// testStatementsPerWrite is TestStatementsPerPutRecords on a MariaDB
// store that deletes by ids with DELETE … RETURNING, or (noReturning) as
// on MySQL.
func testStatementsPerWrite(t *testing.T, noReturning bool) {
	var turns turnCounter
	s := openStore(t, Config{MaxOpenConns: 1, dial: turns.dial, noReturning: noReturning})
	defer s.Close()
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	count := func(what string, wantStatements, wantTrips int, write func() error) {
		t.Helper()
		before := questions(t, s)
		trips := turns.count()
		if err := write(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := turns.count() - trips; got != wantTrips {
			t.Errorf("%s took %d round trips, want %d", what, got, wantTrips)
		}
		if got := questions(t, s) - before - 1; got != wantStatements {
			t.Errorf("%s took %d statements, want %d", what, got, wantStatements)
		}
	}
	put := func(recs []syncstore.WBO) func() error {
		return func() error {
			_, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{QuotaBytes: 1 << 30})
			return err
		}
	}
	// BEGIN; lock user + aggregates + existing rows; upsert; aggregates +
	// users + COMMIT.
	count("100 records into a new collection", 6, 4, put(batchOf("a", 100)))
	// Into a collection that holds rows, the aggregates and the user's
	// timestamp are written by one multi-table UPDATE: the floor's
	// statements (BEGIN, INSERT, COMMIT) plus the lock and that UPDATE, in
	// one round trip more than the floor's.
	count("100 new records into a collection", 5, 4, put(batchOf("b", 100)))
	count("100 updated records", 5, 4, put(batchOf("a", 100)))
	meta := batchOf("a", 100)
	for i := range meta {
		meta[i].Payload = nil
	}
	count("100 metadata-only updates", 5, 4, put(meta))
	deleteIDs := func(prefix string) func() error {
		return func() error {
			ids := make([]string, 100)
			for i := range ids {
				ids[i] = fmt.Sprintf("%s%03d", prefix, i)
			}
			_, err := s.DeleteRecords(ctx, u.ID, "history", &syncstore.Query{IDs: ids}, syncstore.WriteOptions{})
			return err
		}
	}
	if !noReturning {
		// MariaDB: BEGIN; lock user + aggregates; DELETE … RETURNING
		// (which sizes the rows); aggregates and users + COMMIT. The
		// DELETE returns rows, so it is a round trip of its own.
		count("delete by 100 ids", 5, 4, deleteIDs("b"))
		if err := put(batchOf("c", 100))(); err != nil {
			t.Fatal(err)
		}
		count("delete the newest 100 ids", 5, 4, deleteIDs("c"))
		count("delete by ids none of which is stored", 5, 4, deleteIDs("z"))
		return
	}
	// MySQL: BEGIN; lock user + aggregates + the rows to delete (which
	// sizes them); delete + aggregates and users + COMMIT: the b records
	// are older than the a records rewritten since, so the collection's
	// timestamp stays and the newest remaining record need not be found.
	count("delete by 100 ids", 5, 3, deleteIDs("b"))
	// When the newest records go, the same UPDATE finds the newest
	// remaining one: no look-up of its own.
	if err := put(batchOf("c", 100))(); err != nil {
		t.Fatal(err)
	}
	count("delete the newest 100 ids", 5, 3, deleteIDs("c"))
	// Ids of which none is stored: BEGIN; lock; users + COMMIT.
	count("delete by ids none of which is stored", 4, 3, deleteIDs("z"))
}

// TestPostTalliesOverwrittenRows pins what the tally (sqlstore.Tally)
// saves: a POST of records with payloads over as many stored rows reads
// only the rows its upsert overwrites, not those rows once more before
// it (the lock read of the batch's ids, which metadata-only updates and
// MySQL still do). Rows_read counts the rows the session's statements
// read from tables.
func TestPostTalliesOverwrittenRows(t *testing.T) {
	for _, noReturning := range []bool{false, true} {
		t.Run(fmt.Sprintf("noReturning=%v", noReturning), func(t *testing.T) {
			s := openStore(t, Config{MaxOpenConns: 1, noReturning: noReturning})
			defer s.Close()
			ctx := context.Background()
			u := &syncstore.User{Name: "alice", PasswordHash: "h"}
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
			rowsRead := func() int {
				t.Helper()
				return sessionStatus(t, s, "Rows_read")
			}
			put := func(recs []syncstore.WBO) int {
				t.Helper()
				before := rowsRead()
				if _, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				return rowsRead() - before
			}
			put(batchOf("a", 100))
			updated := put(batchOf("a", 100))
			meta := batchOf("a", 100)
			for i := range meta {
				meta[i].Payload = nil
			}
			metaOnly := put(meta)
			if metaOnly < 200 {
				t.Errorf("100 metadata-only updates read %d rows, want the 100 rows twice (read, then overwritten)", metaOnly)
			}
			switch {
			case !noReturning && updated > 120:
				t.Errorf("100 updated records read %d rows, want about the 100 the upsert overwrites", updated)
			case noReturning && updated < 200:
				t.Errorf("100 updated records read %d rows without the tally, want the 100 rows twice", updated)
			}
			// The tallies must not leak into the next POST on the
			// connection: its aggregates count its own rows.
			if _, err := s.PutRecords(ctx, u.ID, "history", batchOf("n", 10), syncstore.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			storetest.CheckAggregates(t, s.DB(), "after the posts")
		})
	}
}

// TestCustomCollectionRace has two instances create the same and different
// custom names at once: every name gets one id, ids are unique, and both
// instances agree.
func TestCustomCollectionRace(t *testing.T) {
	dsn := freshDatabase(t)
	a := openStore(t, Config{DSN: dsn})
	defer a.Close()
	b := openStore(t, Config{DSN: dsn})
	defer b.Close()
	ctx := context.Background()
	const names = 12
	ids := [2][names]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 2*names)
	for i, s := range []*Store{a, b} {
		for n := range names {
			wg.Go(func() {
				id, err := s.EnsureCollection(ctx, fmt.Sprintf("custom%d", n))
				if err != nil {
					errs <- err
				}
				ids[i][n] = id
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[int]int)
	for n := range names {
		if ids[0][n] != ids[1][n] {
			t.Errorf("custom%d: instances disagree on the id: %d and %d", n, ids[0][n], ids[1][n])
		}
		if ids[0][n] < syncstore.FirstCustomCollectionID {
			t.Errorf("custom%d got id %d, below %d", n, ids[0][n], syncstore.FirstCustomCollectionID)
		}
		if other, dup := seen[ids[0][n]]; dup {
			t.Errorf("custom%d and custom%d share id %d", n, other, ids[0][n])
		}
		seen[ids[0][n]] = n
	}
	// A standard name keeps its fixed id.
	if id, err := a.EnsureCollection(ctx, "bookmarks"); err != nil || id != 7 {
		t.Errorf("bookmarks id = %d, %v; want 7", id, err)
	}
}
