package storetest

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// writeCollection is the collection the write benchmarks fill: history,
// the one real profiles upload most to.
const writeCollection = "history"

// RunWriteBenchmarks measures the write requests of a sync, each next to
// its floor: the bare SQL the database needs to store the same rows in the
// same schema (see floor). Each benchmark interleaves the store's request
// and the floor's statement, alternating which goes first, so both see
// the same machine; it reports store-ns/op, floor-ns/op and their ratio
// store/floor, while the benchmark's own ns/op and allocs/op time the
// store's request alone. Every iteration puts the collection back as it
// found it (untimed), so its size stays what the name says.
//
// open returns a store on a fresh, empty database using the real clock,
// and the SQL store whose tables it uses (the store itself, or the inner
// store of a cache). It is called with b, the parent benchmark, since its
// stores outlive each sub-benchmark's runs; it must close them in b's
// cleanup.
func RunWriteBenchmarks(b *testing.B, open func(b *testing.B) (syncstore.Store, SQLDB)) {
	fixtures := map[int]*writeFixture{}
	fixture := func(sb *testing.B, size int) *writeFixture {
		if fx, ok := fixtures[size]; ok {
			return fx
		}
		s, db := open(b)
		fx := newWriteFixture(sb, b, s, db.DB(), size)
		fixtures[size] = fx
		return fx
	}
	b.Run("Post100/records=1000", func(b *testing.B) { benchWritePost(b, fixture(b, 1000), 100) })
	b.Run("Delete10/records=1000", func(b *testing.B) { benchWriteDelete(b, fixture(b, 1000), 10) })
	// Firefox deletes in chunks of 100 ids (docs/protocol.md §1), as the
	// bench mix's churn does.
	b.Run("Delete100/records=1000", func(b *testing.B) { benchWriteDelete(b, fixture(b, 1000), 100) })
	b.Run("Put1/records=1000", func(b *testing.B) { benchWritePost(b, fixture(b, 1000), 1) })
	b.Run("Post100/records=100000", func(b *testing.B) { benchWritePost(b, fixture(b, 100_000), 100) })
	// Cheap once the collection is seeded, and shows a delete whose cost
	// grows with the collection.
	b.Run("Delete10/records=100000", func(b *testing.B) { benchWriteDelete(b, fixture(b, 100_000), 10) })
}

// writeFixture is one database holding, for two users, the same seeded
// collection: the store writes to storeUser's, the floor to floorUser's.
type writeFixture struct {
	ctx       context.Context
	store     syncstore.Store
	floor     *floor
	storeUser int64
	floorUser int64
	collID    int
	seeded    []syncstore.WBO
	rng       *rand.Rand
}

func newWriteFixture(b, parent *testing.B, s syncstore.Store, db *sql.DB, size int) *writeFixture {
	b.Helper()
	ctx := context.Background()
	parent.Cleanup(func() {
		if err := s.Close(); err != nil {
			parent.Errorf("Close: %v", err)
		}
	})
	collID, ok := syncstore.StandardCollectionID(writeCollection)
	if !ok {
		b.Fatalf("%s is not a standard collection", writeCollection)
	}
	fx := &writeFixture{ctx: ctx, store: s, floor: newFloor(parent, db), collID: collID, rng: rand.New(rand.NewPCG(uint64(size), 10))}
	for name, id := range map[string]*int64{"writebench": &fx.storeUser, "writebenchfloor": &fx.floorUser} {
		u := &syncstore.User{Name: name, PasswordHash: "x"}
		if err := s.CreateUser(ctx, u); err != nil {
			b.Fatal(err)
		}
		*id = u.ID
	}
	fx.seeded = fx.newRecords(size)
	// Seeded in key order, as a bulk load would: random order would take
	// minutes at 100,000 records and leave the same tree, only sparser.
	slices.SortFunc(fx.seeded, func(a, b syncstore.WBO) int { return strings.Compare(a.ID, b.ID) })
	// An hour ago: the store's next timestamps are greater, as they are
	// for a user who last synced then.
	ts := syncstore.TimestampFromTime(time.Now().Add(-time.Hour))
	start := time.Now()
	if err := fx.floor.seed(ctx, fx.storeUser, collID, ts, fx.seeded, true); err != nil {
		b.Fatal(err)
	}
	if err := fx.floor.seed(ctx, fx.floorUser, collID, ts, fx.seeded, false); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 2 × %d records in %v", size, time.Since(start).Round(time.Millisecond))
	// Both sides must see what was seeded, or the comparison is void.
	counts, err := s.CollectionCounts(ctx, fx.storeUser)
	if err != nil {
		b.Fatal(err)
	}
	if counts[writeCollection] != int64(size) {
		b.Fatalf("store sees %d seeded records, want %d", counts[writeCollection], size)
	}
	return fx
}

// idAlphabet is that of Firefox's record ids (12 characters of base64url),
// which land at random places in the primary key, as real uploads do.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// newRecords returns n records with fresh random ids, the benchmark
// payload and a sortindex.
func (fx *writeFixture) newRecords(n int) []syncstore.WBO {
	recs := make([]syncstore.WBO, n)
	for i := range recs {
		var id [12]byte
		for j := range id {
			id[j] = idAlphabet[fx.rng.IntN(len(idAlphabet))]
		}
		recs[i] = syncstore.WBO{ID: string(id[:]), Payload: &benchPayload, SortIndex: num(int64(fx.rng.IntN(1000)))}
	}
	return recs
}

// pickSeeded returns n distinct seeded records.
func (fx *writeFixture) pickSeeded(n int) []syncstore.WBO {
	recs := make([]syncstore.WBO, 0, n)
	for _, i := range fx.rng.Perm(len(fx.seeded))[:n] {
		recs = append(recs, fx.seeded[i])
	}
	return recs
}

// interleaved times one store request and one floor operation, the
// floor first on odd iterations. The benchmark timer runs only around
// the store's request.
type interleaved struct {
	store, floor time.Duration
}

func (iv *interleaved) run(b *testing.B, i int, store, floor func() error) {
	timeFloor := func() {
		start := time.Now()
		if err := floor(); err != nil {
			b.Fatalf("floor: %v", err)
		}
		iv.floor += time.Since(start)
	}
	if i%2 == 1 {
		timeFloor()
	}
	// The clock reads sit inside the timer calls, which stop the world
	// and would otherwise count against the store only.
	b.StartTimer()
	start := time.Now()
	err := store()
	iv.store += time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatalf("store: %v", err)
	}
	if i%2 == 0 {
		timeFloor()
	}
}

func (iv *interleaved) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(iv.store.Nanoseconds())/n, "store-ns/op")
	b.ReportMetric(float64(iv.floor.Nanoseconds())/n, "floor-ns/op")
	if iv.floor > 0 {
		b.ReportMetric(float64(iv.store)/float64(iv.floor), "store/floor")
	}
}

// benchWritePost uploads n new records per iteration (a POST, or a PUT
// for n = 1) against inserting them; both are deleted again afterwards.
func benchWritePost(b *testing.B, fx *writeFixture, n int) {
	ctx := fx.ctx
	opt := syncstore.WriteOptions{QuotaBytes: 1 << 40} // checked, never reached
	var iv interleaved
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		recs := fx.newRecords(n)
		ids := idsOf(recs)
		iv.run(b, i, func() error {
			res, err := fx.store.PutRecords(ctx, fx.storeUser, writeCollection, recs, opt)
			if err == nil && len(res.RecordModified) != n {
				b.Fatalf("%d RecordModified for %d records", len(res.RecordModified), n)
			}
			return err
		}, func() error {
			return fx.floor.insert(ctx, fx.floorUser, fx.collID, syncstore.TimestampFromTime(time.Now()), recs)
		})
		if _, err := fx.store.DeleteRecords(ctx, fx.storeUser, writeCollection, &syncstore.Query{IDs: ids}, syncstore.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := fx.floor.delete(ctx, fx.floorUser, fx.collID, ids); err != nil {
			b.Fatal(err)
		}
	}
	iv.report(b)
}

// benchWriteDelete deletes n existing records per iteration (DELETE with
// ids=) against the bare DELETE … IN; both are put back afterwards.
func benchWriteDelete(b *testing.B, fx *writeFixture, n int) {
	ctx := fx.ctx
	var iv interleaved
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		recs := fx.pickSeeded(n)
		ids := idsOf(recs)
		iv.run(b, i, func() error {
			_, err := fx.store.DeleteRecords(ctx, fx.storeUser, writeCollection, &syncstore.Query{IDs: ids}, syncstore.WriteOptions{})
			return err
		}, func() error {
			return fx.floor.delete(ctx, fx.floorUser, fx.collID, ids)
		})
		if _, err := fx.store.PutRecords(ctx, fx.storeUser, writeCollection, recs, syncstore.WriteOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := fx.floor.insert(ctx, fx.floorUser, fx.collID, syncstore.TimestampFromTime(time.Now()), recs); err != nil {
			b.Fatal(err)
		}
	}
	iv.report(b)
}
