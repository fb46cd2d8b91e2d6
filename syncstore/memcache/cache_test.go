package memcache

import (
	"errors"
	"testing"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// innerCalls returns how many calls of method reached the database.
func innerCalls(s *Store, method string) uint64 {
	return s.Stats().InnerCallsByMethod[method]
}

func TestHotReadsServedFromCache(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", `{"syncID":"a"}`))
	f.put(t, f.cached, uid, "crypto", wbo("keys", `{"ciphertext":"k"}`))
	f.put(t, f.cached, uid, "bookmarks", wbo("b1", "12345"))

	before := f.cached.Stats()
	for range 3 {
		f.wantView(t, f.cached, uid, "repeated read")
	}
	after := f.cached.Stats()
	// One view is four cacheable reads; only the first round may miss.
	if got := after.Misses - before.Misses; got != 4 {
		t.Errorf("misses = %d, want 4 (the first read of each answer)", got)
	}
	if got := after.Hits - before.Hits; got != 8 {
		t.Errorf("hits = %d, want 8", got)
	}
	for _, m := range []string{"CollectionTimestamps", "CollectionUsage"} {
		if got := after.InnerCallsByMethod[m] - before.InnerCallsByMethod[m]; got != 1 {
			t.Errorf("%s reached the database %d times, want 1", m, got)
		}
	}
	if got := after.InnerCallsByMethod["GetRecord"] - before.InnerCallsByMethod["GetRecord"]; got != 2 {
		t.Errorf("GetRecord reached the database %d times, want 2 (meta/global and crypto/keys once each)", got)
	}
	if after.Errors != 0 {
		t.Errorf("memcached errors = %d, want 0", after.Errors)
	}
}

func TestOtherRecordsNotCached(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("other", "x"))
	n := innerCalls(f.cached, "GetRecord")
	for range 2 {
		if _, err := f.cached.GetRecord(f.ctx, uid, "meta", "other"); err != nil {
			t.Fatal(err)
		}
	}
	if got := innerCalls(f.cached, "GetRecord") - n; got != 2 {
		t.Errorf("meta/other reached the database %d times, want 2 (only meta/global and crypto/keys are cached)", got)
	}
}

func TestAbsentRecordCachedUntilWritten(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	for range 3 {
		if _, err := f.cached.GetRecord(f.ctx, uid, "meta", "global"); !errors.Is(err, syncstore.ErrNotFound) {
			t.Fatalf("GetRecord(meta/global) of a new user: %v, want ErrNotFound", err)
		}
	}
	if got := innerCalls(f.cached, "GetRecord"); got != 1 {
		t.Errorf("the absent meta/global reached the database %d times, want 1", got)
	}
	f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.wantView(t, f.cached, uid, "after the first upload")
}

func TestWritesInvalidate(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	other := f.user(t, "bob")
	f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.put(t, f.cached, other, "meta", wbo("global", "bob"))
	f.wantView(t, f.cached, other, "bob before")

	steps := []struct {
		name  string
		write func() error
	}{
		{"PutRecords", func() error {
			_, err := f.cached.PutRecords(f.ctx, uid, "meta", []syncstore.WBO{wbo("global", "v2")}, syncstore.WriteOptions{})
			return err
		}},
		{"metadata-only PutRecords", func() error {
			si := int64(5)
			_, err := f.cached.PutRecords(f.ctx, uid, "crypto", []syncstore.WBO{{ID: "keys", SortIndex: &si}}, syncstore.WriteOptions{})
			return err
		}},
		{"PutRecords elsewhere", func() error {
			_, err := f.cached.PutRecords(f.ctx, uid, "history", []syncstore.WBO{wbo("h1", "123"), wbo("h2", "4567")}, syncstore.WriteOptions{})
			return err
		}},
		{"DeleteRecords by id", func() error {
			_, err := f.cached.DeleteRecords(f.ctx, uid, "history", &syncstore.Query{IDs: []string{"h2"}}, syncstore.WriteOptions{})
			return err
		}},
		{"DeleteRecords of meta", func() error {
			_, err := f.cached.DeleteRecords(f.ctx, uid, "meta", &syncstore.Query{}, syncstore.WriteOptions{})
			return err
		}},
		{"PutRecords again", func() error {
			_, err := f.cached.PutRecords(f.ctx, uid, "meta", []syncstore.WBO{wbo("global", "v3")}, syncstore.WriteOptions{})
			return err
		}},
		{"DeleteStorage", func() error {
			_, err := f.cached.DeleteStorage(f.ctx, uid)
			return err
		}},
	}
	for _, st := range steps {
		f.wantView(t, f.cached, uid, "before "+st.name) // fill the cache
		f.clock.Advance(time.Second)
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		f.wantView(t, f.cached, uid, "after "+st.name)
	}
	// Bob's answers were not invalidated by Alice's writes.
	hits := f.cached.Stats().Hits
	f.wantView(t, f.cached, other, "bob after")
	if got := f.cached.Stats().Hits - hits; got != 4 {
		t.Errorf("bob's reads: %d hits, want 4 (other users' writes must not invalidate him)", got)
	}
}

func TestRejectedWriteKeepsCache(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	ts := f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.wantView(t, f.cached, uid, "fill")
	inv := f.cached.Stats().Invalidations
	old := ts - 1
	_, err := f.cached.PutRecords(f.ctx, uid, "meta", []syncstore.WBO{wbo("global", "v2")}, syncstore.WriteOptions{IfUnmodifiedSince: &old})
	if !errors.Is(err, syncstore.ErrModified) {
		t.Fatalf("PutRecords with an old X-If-Unmodified-Since: %v, want ErrModified", err)
	}
	if got := f.cached.Stats().Invalidations; got != inv {
		t.Errorf("a refused write invalidated the cache (%d bumps)", got-inv)
	}
	f.wantView(t, f.cached, uid, "after the refused write")
}

func TestSecondInstanceSeesWrites(t *testing.T) {
	mc := testservices.Memcached(t)
	f := newFixture(t, mc)
	b := f.another(t, f.cfg)
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.wantView(t, f.cached, uid, "A fills")
	f.wantView(t, b, uid, "B reads A's answers")
	if b.Stats().Hits != 4 {
		t.Errorf("B: %d hits, want 4: instances sharing memcached should share answers", b.Stats().Hits)
	}
	f.clock.Advance(time.Second)
	f.put(t, b, uid, "meta", wbo("global", "v2"))
	f.wantView(t, f.cached, uid, "A after B's write")
}

func TestTTLRecordsNotServedAfterExpiry(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", withTTL(wbo("global", "short-lived"), 10))
	f.put(t, f.cached, uid, "tabs", withTTL(wbo("t1", "123456"), 20))
	f.wantView(t, f.cached, uid, "fresh")
	f.wantView(t, f.cached, uid, "fresh, again")
	f.clock.Advance(15 * time.Second)
	f.wantView(t, f.cached, uid, "meta/global expired")
	f.clock.Advance(10 * time.Second)
	f.wantView(t, f.cached, uid, "tabs expired")

	// A user without TTLs is still fully cached.
	plain := f.user(t, "bob")
	f.put(t, f.cached, plain, "meta", wbo("global", "g"))
	f.wantView(t, f.cached, plain, "bob fill")
	hits := f.cached.Stats().Hits
	f.wantView(t, f.cached, plain, "bob again")
	if got := f.cached.Stats().Hits - hits; got != 4 {
		t.Errorf("bob: %d hits, want 4", got)
	}
}

func TestPurgeInvalidatesEveryone(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "tabs", withTTL(wbo("t1", "x"), 10))
	f.put(t, f.cached, uid, "meta", wbo("global", "g"))
	f.wantView(t, f.cached, uid, "fill")
	f.clock.Advance(time.Minute)
	// info/collections still lists tabs: expired rows count until purged.
	f.wantView(t, f.cached, uid, "expired, not purged")
	n, err := f.cached.PurgeExpired(f.ctx, f.clock.Now(), 0)
	if err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v; want 1", n, err)
	}
	f.wantView(t, f.cached, uid, "after the purge")
}

// A generation counter memcached evicted must come back above every value
// it had, or answers cached under the old counter would be served again.
func TestLostGenerationNeverReturns(t *testing.T) {
	mc := testservices.Memcached(t)
	f := newFixture(t, mc)
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.wantView(t, f.cached, uid, "fill")

	raw := gomemcache.New(mc)
	genKey := f.cached.keys.gen(uid)
	it, err := raw.Get(genKey)
	if err != nil {
		t.Fatalf("reading %s: %v", genKey, err)
	}
	oldGen, err := parseCounter(it.Value)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Delete(genKey); err != nil {
		t.Fatal(err)
	}
	// The write's Incr finds no counter; the next read creates a new one.
	f.clock.Advance(time.Second)
	f.put(t, f.cached, uid, "meta", wbo("global", "v2"))
	f.wantView(t, f.cached, uid, "after the counter was lost")
	it, err = raw.Get(genKey)
	if err != nil {
		t.Fatalf("reading the new %s: %v", genKey, err)
	}
	newGen, err := parseCounter(it.Value)
	if err != nil {
		t.Fatal(err)
	}
	if newGen <= oldGen {
		t.Errorf("recreated generation %d is not above the lost one %d", newGen, oldGen)
	}

	// A malformed counter is dropped and recreated, not trusted.
	if err := raw.Set(&gomemcache.Item{Key: genKey, Value: []byte("garbage")}); err != nil {
		t.Fatal(err)
	}
	f.wantView(t, f.cached, uid, "malformed counter")
	f.wantView(t, f.cached, uid, "counter recreated")
	if f.cached.Stats().Errors != 0 {
		t.Errorf("a malformed counter counted as a memcached failure")
	}
}

func TestConfig(t *testing.T) {
	inner := openMySQL(t, testservices.NewMySQLDatabase(t, "mc_"), nil)
	defer inner.Close()
	for _, cfg := range []Config{
		{},
		{Servers: []string{"127.0.0.1:11211"}, Prefix: "has space"},
		{Servers: []string{"127.0.0.1:11211"}, TTL: 31 * 24 * time.Hour},
		{Servers: []string{"127.0.0.1:11211"}, Timeout: -1},
		{Servers: []string{"no-port-here"}},
	} {
		if _, err := New(inner, cfg, nil); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", cfg)
		}
	}
}

func TestCollector(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", "g"))
	f.wantView(t, f.cached, uid, "fill")
	f.wantView(t, f.cached, uid, "hit")

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(f.cached.Collector()); err != nil {
		t.Fatalf("registering the collector: %v", err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			if c := m.GetCounter(); c != nil {
				got[name] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				got[name] = g.GetValue()
			}
		}
	}
	st := f.cached.Stats()
	for name, want := range map[string]float64{
		"syncserver_memcache_reads_total/hit":               float64(st.Hits),
		"syncserver_memcache_reads_total/miss":              float64(st.Misses),
		"syncserver_memcache_errors_total":                  0,
		"syncserver_memcache_invalidations_total":           float64(st.Invalidations),
		"syncserver_memcache_pending_invalidations":         0,
		"syncserver_store_calls_total/CollectionTimestamps": 1,
		"syncserver_store_calls_total/PutRecords":           1,
		"syncserver_store_calls_total/DeleteStorage":        0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present: %v), want %v", name, v, ok, want)
		}
	}
	if st.Hits != 4 {
		t.Errorf("hits = %d, want 4", st.Hits)
	}
}

// TestGetRecordAndLast: the combined reads agree with GetRecord and
// UserTimestamp on cached and uncached records, present or not, also
// after another instance wrote, and an uncached record costs one database
// read with no separate timestamp read.
func TestGetRecordAndLast(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t))
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", `{"syncID":"a"}`))
	f.put(t, f.cached, uid, "bookmarks", wbo("b1", "12345"))
	// Another instance writes: the cache's answers must follow.
	last := f.put(t, f.another(t, f.cfg), uid, "bookmarks", wbo("b2", "6"))
	for _, r := range []struct{ coll, id string }{
		{"meta", "global"}, {"crypto", "keys"}, {"bookmarks", "b1"}, {"bookmarks", "none"}, {"nocoll", "x"},
	} {
		want, werr := f.direct.GetRecord(f.ctx, uid, r.coll, r.id)
		before := f.cached.Stats().InnerCallsByMethod
		got, gotLast, err := f.cached.GetRecordAndLast(f.ctx, uid, r.coll, r.id)
		after := f.cached.Stats().InnerCallsByMethod
		if (werr == nil) != (err == nil) || (err != nil && !errors.Is(err, syncstore.ErrNotFound)) {
			t.Errorf("%s/%s: error %v, want %v", r.coll, r.id, err, werr)
			continue
		}
		if gotLast != last {
			t.Errorf("%s/%s: last %s, want %s", r.coll, r.id, gotLast, last)
		}
		if want != nil && (got == nil || got.ID != want.ID || *got.Payload != *want.Payload || got.Modified != want.Modified) {
			t.Errorf("%s/%s: got %+v, want %+v", r.coll, r.id, got, want)
		}
		if _, kept := isCachedRecord(r.coll, r.id); !kept && after["UserTimestamp"] != before["UserTimestamp"] {
			t.Errorf("%s/%s: an uncached record read the user's timestamp separately", r.coll, r.id)
		}
	}

	// Listings are not cached: the inner store's combined read, with the
	// timestamp also for an empty listing.
	for _, coll := range []string{"bookmarks", "nocoll"} {
		want, err := f.direct.GetRecords(f.ctx, uid, coll, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, gotLast, err := f.cached.GetRecordsAndLast(f.ctx, uid, coll, nil)
		if err != nil || len(got) != len(want) || gotLast != last {
			t.Errorf("GetRecordsAndLast(%s) = %d records, %s, %v; want %d records, %s", coll, len(got), gotLast, err, len(want), last)
		}
	}
}
