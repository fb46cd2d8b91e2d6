package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// RunBenchmarks measures the store operations a sync hits most: reading
// info/collections, an incremental download, and a full 100-record upload.
// open returns a fresh, empty store using the real clock; the benchmark
// closes it.
func RunBenchmarks(b *testing.B, open func(b *testing.B) syncstore.Store) {
	b.Run("CollectionTimestamps", func(b *testing.B) { benchCollectionTimestamps(b, open(b)) })
	b.Run("GetRecordsNewer", func(b *testing.B) { benchGetRecordsNewer(b, open(b)) })
	b.Run("PutRecords100/insert", func(b *testing.B) { benchPutRecords(b, open(b), false) })
	b.Run("PutRecords100/update", func(b *testing.B) { benchPutRecords(b, open(b), true) })
}

// benchPayload is about the size of an encrypted history record.
var benchPayload = `{"ciphertext":"` + strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 7) + `","IV":"MDEyMzQ1Njc4OWFiY2RlZg==","hmac":"` + strings.Repeat("0f", 32) + `"}`

func benchSetup(b *testing.B, s syncstore.Store) (context.Context, *syncstore.User) {
	b.Helper()
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("Close: %v", err)
		}
	})
	ctx := context.Background()
	u := &syncstore.User{Name: "bench", PasswordHash: "x"}
	if err := s.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	return ctx, u
}

// benchBatch is 100 records with ids prefix0 … prefix99.
func benchBatch(prefix string) []syncstore.WBO {
	recs := make([]syncstore.WBO, 100)
	for i := range recs {
		recs[i] = syncstore.WBO{ID: fmt.Sprintf("%s%d", prefix, i), Payload: &benchPayload, SortIndex: num(int64(i))}
	}
	return recs
}

func benchCollectionTimestamps(b *testing.B, s syncstore.Store) {
	ctx, u := benchSetup(b, s)
	colls := []string{"clients", "crypto", "forms", "history", "keys", "meta", "bookmarks", "prefs", "tabs", "passwords", "addons"}
	for _, c := range colls {
		if _, err := s.PutRecords(ctx, u.ID, c, benchBatch(c), syncstore.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m, err := s.CollectionTimestamps(ctx, u.ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(m) != len(colls) {
			b.Fatalf("got %d collections, want %d", len(m), len(colls))
		}
	}
}

// benchGetRecordsNewer reads the last 100 of 6,000 history records, as a
// client does after another client's upload.
func benchGetRecordsNewer(b *testing.B, s syncstore.Store) {
	ctx, u := benchSetup(b, s)
	var since syncstore.Timestamp
	for i := range 60 {
		res, err := s.PutRecords(ctx, u.ID, "history", benchBatch(fmt.Sprintf("r%d-", i)), syncstore.WriteOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if i == 58 {
			since = res.Modified
		}
	}
	// A second collection so the index, not the table, has to do the work.
	for i := range 10 {
		if _, err := s.PutRecords(ctx, u.ID, "bookmarks", benchBatch(fmt.Sprintf("b%d-", i)), syncstore.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	q := &syncstore.Query{Newer: &since, Sort: syncstore.SortIndex}
	b.ReportAllocs()
	for b.Loop() {
		ws, err := s.GetRecords(ctx, u.ID, "history", q)
		if err != nil {
			b.Fatal(err)
		}
		if len(ws) != 100 {
			b.Fatalf("got %d records, want 100", len(ws))
		}
	}
}

func benchPutRecords(b *testing.B, s syncstore.Store, update bool) {
	ctx, u := benchSetup(b, s)
	same := benchBatch("r")
	if update {
		if _, err := s.PutRecords(ctx, u.ID, "history", same, syncstore.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	opt := syncstore.WriteOptions{QuotaBytes: 1 << 40}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		recs := same
		if !update {
			b.StopTimer()
			recs = benchBatch(fmt.Sprintf("r%d-", n))
			n++
			b.StartTimer()
		}
		res, err := s.PutRecords(ctx, u.ID, "history", recs, opt)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.RecordModified) != len(recs) {
			b.Fatalf("%d RecordModified for %d records", len(res.RecordModified), len(recs))
		}
	}
}
