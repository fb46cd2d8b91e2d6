package local

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// TestFloorProbe runs a short probe on both SQL stores: every tick times
// one insert and one delete, and the summaries are ordered.
func TestFloorProbe(t *testing.T) {
	for _, kind := range []string{SQLite, MySQL} {
		t.Run(kind, func(t *testing.T) {
			cfg := ProbeConfig{Kind: kind, Rate: 50, Duration: 400 * time.Millisecond, Rows: 10, Records: 30}
			res, err := FloorProbe(context.Background(), cfg, Options{MySQLDSN: testMySQLDSN()})
			if err != nil {
				t.Fatal(err)
			}
			for name, l := range map[string]Latency{"insert": res.Insert, "delete": res.Delete} {
				if l.N == 0 || l.P50 <= 0 || l.P50 > l.P95 || l.P95 > l.P99 {
					t.Errorf("%s: %+v, want some transactions with p50 <= p95 <= p99", name, l)
				}
			}
			if res.Insert.N != res.Delete.N {
				t.Errorf("%d inserts but %d deletes, want one of each per tick", res.Insert.N, res.Delete.N)
			}
		})
	}
}

// TestFloorProbeConfig: a kind without a SQL store and counts that make
// no probe are refused before anything is opened.
func TestFloorProbeConfig(t *testing.T) {
	ok := ProbeConfig{Kind: SQLite, Rate: 1, Duration: time.Second, Rows: 10, Records: 10}
	for name, mutate := range map[string]func(*ProbeConfig){
		"legacy kind":             func(c *ProbeConfig) { c.Kind = Legacy },
		"zero rate":               func(c *ProbeConfig) { c.Rate = 0 },
		"zero duration":           func(c *ProbeConfig) { c.Duration = 0 },
		"zero rows":               func(c *ProbeConfig) { c.Rows = 0 },
		"fewer records than rows": func(c *ProbeConfig) { c.Records = 5 },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := FloorProbe(context.Background(), cfg, Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "floor probe") {
			t.Errorf("%s: error %v, want one naming the floor probe", name, err)
		}
	}
}

// TestProberKeepsCollectionSize: each pair adds rows records and deletes
// the rows oldest, so the collection keeps its size and its newest ids.
func TestProberKeepsCollectionSize(t *testing.T) {
	ctx := context.Background()
	s := &Server{}
	t.Cleanup(func() { s.Close() })
	if err := s.openSQLite(ctx, Options{Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	db := s.store.(storetest.SQLDB).DB()
	u := &syncstore.User{Name: "p", PasswordHash: "x"}
	if err := s.store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	f := storetest.NewFloor(db)
	defer f.Close()
	p := &prober{floor: f, user: u.ID, rows: 5, r: newProbeRand(5, 15), payload: "x"}
	for range 3 {
		if _, err := p.insert(ctx); err != nil {
			t.Fatal(err)
		}
	}
	first := p.live[5]
	for range 4 {
		if _, err := p.insert(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := p.deleteOldest(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	var oldest string
	if err := db.QueryRow("SELECT COUNT(*) FROM wbo WHERE user_id = ?", u.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 15 || len(p.live) != 15 {
		t.Errorf("the collection holds %d rows and the prober knows %d, want 15 after 3 fills and 4 pairs", n, len(p.live))
	}
	if err := db.QueryRow("SELECT id FROM wbo WHERE user_id = ? AND id = ?", u.ID, first).Scan(&oldest); err == nil {
		t.Errorf("record %s of the second batch is still there after four pairs", first)
	}
}
