package sqlitestore

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// TestReadConnectionsCacheStatements checks the raw read of
// info/collections: the read pool's connections are cachingConns, the
// answer is the collections' timestamps and the user's last write from
// every connection, each connection prepares the statement once, and
// closing the store finalizes the statements without error.
func TestReadConnectionsCacheStatements(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	u := &syncstore.User{Name: "alice", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	payload := "{}"
	var want []syncstore.CollectionStamp
	var last syncstore.Timestamp
	for _, c := range []string{"bookmarks", "crypto", "history", "meta", "tabs"} { // sorted
		res, err := s.PutRecords(ctx, u.ID, c, []syncstore.WBO{{ID: "r1", Payload: &payload}}, syncstore.WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, last = append(want, syncstore.CollectionStamp{Name: c, Modified: res.Modified}), res.Modified
	}

	// Concurrent reads, so that the pool opens several connections.
	var wg sync.WaitGroup
	errs := make(chan error, 4*readConns)
	for range 4 * readConns {
		wg.Go(func() {
			for range 20 {
				got, gotLast, err := s.CollectionTimestampsAndLast(ctx, u.ID, nil)
				switch {
				case err != nil:
					errs <- err
					return
				case !slices.Equal(got, want) || gotLast != last:
					t.Errorf("got %v, last %v; want %v, last %v", got, gotLast, want, last)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// A user without records, and one that does not exist.
	bob := &syncstore.User{Name: "bob", PasswordHash: "x"}
	if err := s.CreateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{bob.ID, bob.ID + 1000} {
		got, gotLast, err := s.CollectionTimestampsAndLast(ctx, id, nil)
		if err != nil || len(got) != 0 || gotLast != 0 {
			t.Errorf("user %d: got %v, %v, %v; want no collections", id, got, gotLast, err)
		}
	}

	conn, err := s.reader.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*cachingConn)
		if !ok {
			t.Fatalf("read connection is a %T, want *cachingConn", dc)
		}
		if len(c.stmts) > 1 {
			t.Errorf("connection holds %d statements, want at most 1 (info/collections')", len(c.stmts))
		}
		return nil
	})
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
