package mysqlstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// TestAggregatesMatchRows: storetest.RunAggregates on MySQL, with
// MariaDB's DELETE … RETURNING and without it, as on MySQL servers.
func TestAggregatesMatchRows(t *testing.T) {
	for _, noReturning := range []bool{false, true} {
		t.Run(fmt.Sprintf("noReturning=%v", noReturning), func(t *testing.T) {
			storetest.RunAggregates(t, func(t *testing.T, clock func() time.Time) (syncstore.Store, storetest.SQLDB) {
				s := openStore(t, Config{Clock: clock, noReturning: noReturning})
				t.Cleanup(func() { s.Close() })
				return s, s
			})
		})
	}
}

// TestLargeBatchSplitsStatements writes more payload than one statement
// may carry: the upsert is cut into several, and everything lands.
func TestLargeBatchSplitsStatements(t *testing.T) {
	s := openStore(t, Config{})
	defer s.Close()
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	const n = 24 // 6 MiB of payload, over maxUpsertPayload
	recs := make([]syncstore.WBO, n)
	for i := range recs {
		recs[i] = syncstore.WBO{ID: fmt.Sprintf("big%d", i), Payload: ptr(strings.Repeat(string(rune('a'+i)), syncstore.DefaultMaxPayload))}
	}
	res, err := s.PutRecords(ctx, u.ID, "history", recs, syncstore.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(n * syncstore.DefaultMaxPayload); res.UsedBytes != want {
		t.Errorf("UsedBytes = %d, want %d", res.UsedBytes, want)
	}
	ws, err := s.GetRecords(ctx, u.ID, "history", &syncstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != n {
		t.Fatalf("stored %d records, want %d", len(ws), n)
	}
	for _, w := range ws {
		if w.Payload == nil || len(*w.Payload) != syncstore.DefaultMaxPayload || w.Modified != res.Modified {
			t.Errorf("record %s came back with %d payload bytes, modified %s", w.ID, len(*w.Payload), w.Modified)
		}
	}
	storetest.CheckAggregates(t, s.DB(), "the large batch")
}
