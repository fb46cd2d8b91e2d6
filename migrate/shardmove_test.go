package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
)

// shardEnv is a default database (the route table) and two shards, s1
// and s2, with native users on s1.
type shardEnv struct {
	t      testing.TB
	clock  *fakeClock
	def    native
	shards map[string]native // "" is def
	m      *migrate.Migrator
}

func newShardEnv(t testing.TB, open func(testing.TB, func() time.Time) native) *shardEnv {
	t.Helper()
	e := &shardEnv{t: t, clock: &fakeClock{}}
	e.def = open(t, e.clock.now)
	e.shards = map[string]native{"": e.def, "s1": open(t, e.clock.now), "s2": open(t, e.clock.now)}
	e.m = e.migrator(migrate.Config{})
	return e
}

func (e *shardEnv) migrator(cfg migrate.Config) *migrate.Migrator {
	e.t.Helper()
	cfg.Native, cfg.Routes, cfg.Clock = e.def, e.def, e.clock.now
	cfg.Shards = map[string]migrate.ShardStore{"s1": e.shards["s1"], "s2": e.shards["s2"]}
	return newMigrator(e.t, cfg)
}

func (e *shardEnv) route(name string) *syncstore.Route {
	e.t.Helper()
	r, err := e.def.GetRoute(context.Background(), name)
	if errors.Is(err, syncstore.ErrNoRoute) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// seed creates a native user on shard with records written through the
// protocol: several collections, meta/global and crypto/keys, records
// with a TTL, a sortindex, parentid/predecessorid, NULL-free payloads of
// many sizes, and deletions, so that the user's last write timestamp is
// above every record's. The route row names the shard.
func (e *shardEnv) seed(shard, name string, records int) {
	e.t.Helper()
	e.seedData(shard, name, records)
	if err := e.def.SetRoute(context.Background(), syncstore.Route{Username: name, State: syncstore.RouteNative, Node: "n1", Shard: shard}); err != nil {
		e.t.Fatal(err)
	}
}

// seedData is seed without the route row.
func (e *shardEnv) seedData(shard, name string, records int) {
	e.t.Helper()
	ctx := context.Background()
	s := e.shards[shard]
	u := &syncstore.User{Name: name, PasswordHash: "0123456789abcdef0123456789abcdef", Email: name + "@example.com"}
	if err := s.CreateUser(ctx, u); err != nil {
		e.t.Fatal(err)
	}
	put := func(coll string, recs []syncstore.WBO) {
		if _, err := s.PutRecords(ctx, u.ID, coll, recs, syncstore.WriteOptions{}); err != nil {
			e.t.Fatal(err)
		}
	}
	put("meta", []syncstore.WBO{{ID: "global", Payload: ptr(`{"syncID":"m-` + name + `","storageVersion":5}`)}})
	put("crypto", []syncstore.WBO{{ID: "keys", Payload: ptr(`{"ciphertext":"k-` + name + `"}`)}})
	colls := []string{"bookmarks", "history", "tabs", "forms"}
	for i := 0; i < records; i += 100 {
		var batch []syncstore.WBO
		coll := colls[(i/100)%len(colls)]
		for j := i; j < min(i+100, records); j++ {
			w := syncstore.WBO{ID: fmt.Sprintf("r%05d", j), Payload: ptr(strings.Repeat("x", 50+j%400))}
			if j%3 == 0 {
				w.SortIndex = ptr(int64(j))
			}
			if j%7 == 0 {
				w.ParentID, w.PredecessorID = ptr("p"), ptr("q")
			}
			if coll == "tabs" || j%11 == 0 {
				w.TTL = ptr(int64(3600 + j))
			}
			batch = append(batch, w)
		}
		put(coll, batch)
	}
	// Deletions raise the user's last write above every record.
	if _, err := s.DeleteRecords(ctx, u.ID, "bookmarks", &syncstore.Query{IDs: []string{"r00001", "r00002"}}, syncstore.WriteOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// snap is everything of a user a client can observe, read directly.
type snap struct {
	hash, email string
	records     map[string]syncstore.StoredRecord
	stamps      map[string]syncstore.Timestamp
	last        syncstore.Timestamp
}

func (e *shardEnv) snapshot(shard, name string) *snap {
	e.t.Helper()
	ctx := context.Background()
	s := e.shards[shard]
	u, err := s.LookupUser(ctx, name)
	if errors.Is(err, syncstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	out := &snap{hash: u.PasswordHash, email: u.Email, records: map[string]syncstore.StoredRecord{}}
	if err := s.ExportRecords(ctx, u.ID, func(c string, r *syncstore.StoredRecord) error {
		out.records[c+"/"+r.ID] = *r
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	if out.stamps, err = s.CollectionTimestamps(ctx, u.ID); err != nil {
		e.t.Fatal(err)
	}
	if out.last, err = s.UserTimestamp(ctx, u.ID); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// sameData compares two snapshots byte for byte, field by field.
func (e *shardEnv) sameData(what string, want, got *snap) {
	e.t.Helper()
	if want == nil || got == nil {
		e.t.Fatalf("%s: missing account (want %v, got %v)", what, want != nil, got != nil)
	}
	if got.hash != want.hash || got.email != want.email {
		e.t.Errorf("%s: account %q/%q, want %q/%q", what, got.hash, got.email, want.hash, want.email)
	}
	if len(got.records) != len(want.records) {
		e.t.Errorf("%s: %d records, want %d", what, len(got.records), len(want.records))
	}
	for k, w := range want.records {
		g, ok := got.records[k]
		if !ok {
			e.t.Errorf("%s: record %s missing", what, k)
			continue
		}
		if g.Modified != w.Modified || !ptrEq(g.SortIndex, w.SortIndex) || !ptrEq(g.ParentID, w.ParentID) ||
			!ptrEq(g.PredecessorID, w.PredecessorID) || !ptrEq(g.Payload, w.Payload) || g.Expiry != w.Expiry {
			e.t.Errorf("%s: record %s differs: %+v, want %+v", what, k, g, w)
		}
	}
	if !maps.Equal(got.stamps, want.stamps) {
		e.t.Errorf("%s: info/collections %v, want %v", what, got.stamps, want.stamps)
	}
	if got.last < want.last {
		e.t.Errorf("%s: last write %s, below the source's %s", what, got.last, want.last)
	}
}

func (e *shardEnv) checkRoute(name, shard string) {
	e.t.Helper()
	r := e.route(name)
	if r == nil || r.State != syncstore.RouteNative || r.Shard != shard || r.Owner != "" || r.LastError != "" || r.Node != "n1" {
		e.t.Errorf("route of %s: %+v, want native on shard %q with node n1 kept, no lease, no error", name, r, shard)
	}
}

var shardBackends = []struct {
	name string
	open func(testing.TB, func() time.Time) native
}{{"mysql", openMySQL}, {"sqlite", openSQLite}}

// TestMoveUser: a user moves from s1 to s2 with every record identical
// byte for byte (expiry included), info/collections and the last write
// timestamp carried, the route flipped (legacy node kept) and the source
// copy deleted; moving again does nothing; the next write on s2 gets a
// timestamp above every earlier one.
func TestMoveUser(t *testing.T) {
	for _, b := range shardBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newShardEnv(t, b.open)
			ctx := testContext(t)
			e.seed("s1", "alice", 1000)
			before := e.snapshot("s1", "alice")
			res, err := e.m.MoveUser(ctx, "Alice", "s1", "s2")
			if err != nil || res.Action != migrate.ActionMoved || res.Records != int64(len(before.records)) || res.Window < 20*time.Millisecond {
				t.Fatalf("MoveUser: %+v, %v", res, err)
			}
			if res.From != "s1" || res.To != "s2" {
				t.Errorf("result names %s → %s", res.From, res.To)
			}
			e.sameData("s2 after the move", before, e.snapshot("s2", "alice"))
			e.checkRoute("alice", "s2")
			if e.snapshot("s1", "alice") != nil {
				t.Error("the source copy is still on s1")
			}
			res, err = e.m.MoveUser(ctx, "alice", "s1", "s2")
			if err != nil || res.Action != migrate.ActionAlreadyMoved {
				t.Errorf("second move: %+v, %v", res, err)
			}
			s2 := e.shards["s2"]
			u, _ := s2.LookupUser(ctx, "alice")
			wr, err := s2.PutRecords(ctx, u.ID, "tabs", []syncstore.WBO{{ID: "after", Payload: ptr("x")}}, syncstore.WriteOptions{})
			if err != nil || wr.Modified <= before.last {
				t.Errorf("write after the move: %+v, %v; must be above %s", wr, err, before.last)
			}
			// And back to the default database.
			before = e.snapshot("s2", "alice")
			if res, err := e.m.MoveUser(ctx, "alice", "s2", ""); err != nil || res.Action != migrate.ActionMoved || res.To != "default" {
				t.Fatalf("move to default: %+v, %v", res, err)
			}
			e.sameData("default after the move", before, e.snapshot("", "alice"))
			e.checkRoute("alice", "")
		})
	}
}

// TestMoveKeepSource: with KeepSource the s1 copy stays; a later run
// without it deletes the copy (the user is already on s2).
func TestMoveKeepSource(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	e.seed("s1", "bob", 300)
	before := e.snapshot("s1", "bob")
	keep := e.migrator(migrate.Config{KeepSource: true})
	if res, err := keep.MoveUser(ctx, "bob", "s1", "s2"); err != nil || res.Action != migrate.ActionMoved {
		t.Fatalf("move: %+v, %v", res, err)
	}
	e.checkRoute("bob", "s2")
	e.sameData("s1 kept", before, e.snapshot("s1", "bob"))
	e.sameData("s2", before, e.snapshot("s2", "bob"))
	if res, err := keep.MoveUser(ctx, "bob", "s1", "s2"); err != nil || res.Action != migrate.ActionAlreadyMoved || e.snapshot("s1", "bob") == nil {
		t.Fatalf("again with KeepSource: %+v, %v", res, err)
	}
	res, err := e.m.MoveUser(ctx, "bob", "s1", "s2")
	if err != nil || res.Action != migrate.ActionAlreadyMoved || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "deleted the copy") {
		t.Fatalf("again without KeepSource: %+v, %v", res, err)
	}
	if e.snapshot("s1", "bob") != nil {
		t.Error("the kept copy was not deleted")
	}
	e.checkRoute("bob", "s2")
}

// TestMoveErrors: a wrong selection is refused before anything changes.
func TestMoveErrors(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	e.seed("s1", "carol", 10)
	if err := e.def.SetRoute(ctx, syncstore.Route{Username: "dave", State: syncstore.RouteLegacy}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, from, to string
		want           error
		msg            string
	}{
		{"carol", "s1", "s1", nil, "both shard s1"},
		{"carol", "s1", "s9", migrate.ErrUnknownShard, `unknown shard "s9"`},
		{"carol", "s2", "", migrate.ErrWrongShard, "is on shard s1, not s2"},
		{"carol", "", "s2", migrate.ErrWrongShard, "not default"},
		{"dave", "s1", "s2", migrate.ErrNotNative, "migrate it from legacy first"},
		{"erin", "", "s2", migrate.ErrNotNative, "is legacy"}, // no row, RowlessNative unset
	} {
		res, err := e.m.MoveUser(ctx, tc.user, tc.from, tc.to)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) || res.Action != migrate.ActionFailed {
			t.Errorf("%s %q→%q: %+v, %v; want %q", tc.user, tc.from, tc.to, res, err, tc.msg)
		}
	}
	e.checkRoute("carol", "s1")
	if e.snapshot("s2", "carol") != nil {
		t.Error("a refused move wrote to s2")
	}
}

// TestMoveFaultAtEachStep: a failure at any step before the flip leaves
// the user native on s1 with the reason, the s1 data untouched and no
// copy on s2; the next run completes. A failure at the deletion leaves
// the user on s2 with the s1 copy, which the next run deletes.
func TestMoveFaultAtEachStep(t *testing.T) {
	e := newShardEnv(t, openMySQL)
	ctx := testContext(t)
	steps := []string{migrate.StepLookup, migrate.StepBulk, migrate.StepMigrating, migrate.StepDelta, migrate.StepVerify, migrate.StepCache, migrate.StepFlip}
	for i, step := range steps {
		name := fmt.Sprintf("user%d", i)
		e.seed("s1", name, 250)
		before := e.snapshot("s1", name)
		migrate.SetFault(e.m, func(s string) error {
			if s == step {
				return errInjected
			}
			return nil
		})
		res, err := e.m.MoveUser(ctx, name, "s1", "s2")
		if !errors.Is(err, errInjected) || res.Action != migrate.ActionFailed || res.Step != step {
			t.Fatalf("fault at %s: %+v, %v", step, res, err)
		}
		r := e.route(name)
		if r.State != syncstore.RouteNative || r.Shard != "s1" || r.Owner != "" {
			t.Errorf("fault at %s: route %+v, want native on s1", step, r)
		}
		if step != migrate.StepLookup && !strings.Contains(r.LastError, "injected") {
			t.Errorf("fault at %s: last error %q", step, r.LastError)
		}
		e.sameData("s1 after the fault at "+step, before, e.snapshot("s1", name))
		if e.snapshot("s2", name) != nil {
			t.Errorf("fault at %s: the partial copy is still on s2", step)
		}
		if inWindow := step == migrate.StepDelta || step == migrate.StepVerify || step == migrate.StepCache || step == migrate.StepFlip; inWindow && res.Window <= 0 {
			t.Errorf("fault at %s: no unavailability window measured", step)
		}
		migrate.SetFault(e.m, nil)
		if res, err := e.m.MoveUser(ctx, name, "s1", "s2"); err != nil || res.Action != migrate.ActionMoved {
			t.Fatalf("retry after the fault at %s: %+v, %v", step, res, err)
		}
		e.checkRoute(name, "s2")
		e.sameData("s2 after the retry", before, e.snapshot("s2", name))
	}

	// The deletion of the source copy fails: the user is moved anyway.
	e.seed("s1", "late", 100)
	before := e.snapshot("s1", "late")
	migrate.SetFault(e.m, func(s string) error {
		if s == migrate.StepDelete {
			return errInjected
		}
		return nil
	})
	res, err := e.m.MoveUser(ctx, "late", "s1", "s2")
	if !errors.Is(err, errInjected) || res.Step != migrate.StepDelete {
		t.Fatalf("fault at the deletion: %+v, %v", res, err)
	}
	if r := e.route("late"); r.State != syncstore.RouteNative || r.Shard != "s2" || r.Owner != "" || !strings.Contains(r.LastError, "still there") {
		t.Errorf("route after the failed deletion: %+v", r)
	}
	e.sameData("s2", before, e.snapshot("s2", "late"))
	migrate.SetFault(e.m, nil)
	if res, err := e.m.MoveUser(ctx, "late", "s1", "s2"); err != nil || res.Action != migrate.ActionAlreadyMoved {
		t.Fatalf("rerun: %+v, %v", res, err)
	}
	if e.snapshot("s1", "late") != nil {
		t.Error("the rerun left the s1 copy")
	}
	e.checkRoute("late", "s2")
}

// TestMoveKilled: a run killed (kill -9: no cleanup) at any step leaves a
// lease; once it expires the user is served from the shard the row names
// (s1 before the flip, s2 after it) and never stuck in migrating; the next
// run resumes from the copy on s2 and finishes, deleting the s1 copy also
// when the kill came between the flip and the deletion.
func TestMoveKilled(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	for i, step := range []string{migrate.StepMigrating, migrate.StepDelta, migrate.StepVerify, migrate.StepCache, migrate.StepFlip, migrate.StepDelete} {
		name := fmt.Sprintf("k%d", i)
		e.seed("s1", name, 400)
		before := e.snapshot("s1", name)
		m := e.migrator(migrate.Config{})
		migrate.SetFault(m, func(s string) error {
			if s == step {
				return migrate.ErrKilled
			}
			return nil
		})
		if _, err := m.MoveUser(ctx, name, "s1", "s2"); !errors.Is(err, migrate.ErrKilled) {
			t.Fatalf("kill at %s: %v", step, err)
		}
		r := e.route(name)
		if r.Owner != m.Owner() {
			t.Fatalf("kill at %s: no lease left: %+v", step, r)
		}
		if _, err := e.m.MoveUser(ctx, name, "s1", "s2"); !errors.Is(err, migrate.ErrBusy) {
			t.Errorf("kill at %s: a second run during the lease: %v", step, err)
		}
		e.clock.advance(11 * time.Second)
		wantShard := "s1"
		if step == migrate.StepDelete {
			wantShard = "s2"
		}
		if r := e.route(name); r.Effective(e.clock.now()) != syncstore.RouteNative || r.Shard != wantShard {
			t.Errorf("kill at %s: after the lease expired the user is %s on %q, want native on %s", step, r.Effective(e.clock.now()), r.Shard, wantShard)
		}
		res, err := e.migrator(migrate.Config{}).MoveUser(ctx, name, "s1", "s2")
		want := migrate.ActionMoved
		if step == migrate.StepDelete {
			want = migrate.ActionAlreadyMoved
		}
		if err != nil || res.Action != want {
			t.Fatalf("rerun after the kill at %s: %+v, %v", step, res, err)
		}
		if step != migrate.StepDelete && step != migrate.StepMigrating && res.Written != 0 {
			t.Errorf("rerun after the kill at %s rewrote %d records the killed run had copied", step, res.Written)
		}
		e.checkRoute(name, "s2")
		e.sameData("s2 after the kill at "+step+" and the rerun", before, e.snapshot("s2", name))
		if e.snapshot("s1", name) != nil {
			t.Errorf("kill at %s: the rerun left the s1 copy", step)
		}
	}
}

// TestMoveRacingWrites: protocol writes that race the move are never
// lost. A writer plays the shim: under a lock it reads the route and, if
// the user is native, writes to the shard the row names; the drain is
// modelled by waiting, at the delta step, for the write in flight (the
// drain's job: no write accepted by the source before the migrating swap
// is still running). Every acknowledged write is on s2 afterwards, and
// writes done through the fault hooks during the bulk copy (new records,
// overwrites, sortindex-only and TTL-only updates, deletions, a password
// change) are carried too.
func TestMoveRacingWrites(t *testing.T) {
	for _, b := range shardBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newShardEnv(t, b.open)
			ctx := testContext(t)
			e.seed("s1", "racer", 600)
			s1 := e.shards["s1"]
			u1, _ := s1.LookupUser(ctx, "racer")

			var mu sync.Mutex // the shim's decision and the write it forwards
			acked := map[string]string{}
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					r, err := e.def.GetRoute(ctx, "racer")
					if err == nil && r.Effective(e.clock.now()) == syncstore.RouteNative {
						s := e.shards[r.Shard]
						if u, err := s.LookupUser(ctx, "racer"); err == nil {
							id, p := fmt.Sprintf("w%05d", i), fmt.Sprintf(`{"n":%d}`, i)
							if _, err := s.PutRecords(ctx, u.ID, "history", []syncstore.WBO{{ID: id, Payload: &p}}, syncstore.WriteOptions{}); err == nil {
								acked[id] = p
							}
						}
					}
					mu.Unlock()
					time.Sleep(time.Millisecond)
				}
			}()

			migrate.SetFault(e.m, func(step string) error {
				switch step {
				case migrate.StepMigrating: // the end of the bulk copy
					if _, err := s1.PutRecords(ctx, u1.ID, "bookmarks", []syncstore.WBO{
						{ID: "during-bulk", Payload: ptr(`{"new":1}`)},
						{ID: "r00004", Payload: ptr(`{"changed":1}`)},
						{ID: "r00005", SortIndex: ptr(int64(4242))},
						{ID: "r00008", TTL: ptr(int64(99))},
					}, syncstore.WriteOptions{}); err != nil {
						return err
					}
					if _, err := s1.DeleteRecords(ctx, u1.ID, "bookmarks", &syncstore.Query{IDs: []string{"r00006"}}, syncstore.WriteOptions{}); err != nil {
						return err
					}
					return s1.UpdateUser(ctx, &syncstore.User{ID: u1.ID, Name: "racer", PasswordHash: "fedcba9876543210fedcba9876543210", Email: "new@example.com"})
				case migrate.StepDelta: // the drain: the write in flight ends
					mu.Lock()
					defer mu.Unlock()
				}
				return nil
			})
			// The writer must have written on s1 before the move starts.
			for {
				mu.Lock()
				n := len(acked)
				mu.Unlock()
				if n > 0 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			res, err := e.m.MoveUser(ctx, "racer", "s1", "s2")
			if err != nil {
				t.Fatal(err)
			}
			if res.DeltaWritten < 4 || res.DeltaDeleted != 1 {
				t.Errorf("delta wrote %d and deleted %d records, want at least 4 and 1", res.DeltaWritten, res.DeltaDeleted)
			}
			// Some writes land on s2 before the writer stops.
			time.Sleep(20 * time.Millisecond)
			close(stop)
			<-done

			got := e.snapshot("s2", "racer")
			for id, p := range acked {
				r, ok := got.records["history/"+id]
				if !ok || r.Payload == nil || *r.Payload != p {
					t.Errorf("acknowledged write %s is not on s2", id)
				}
			}
			if got.hash != "fedcba9876543210fedcba9876543210" || got.email != "new@example.com" {
				t.Errorf("account on s2 %q %q: the password change is lost", got.hash, got.email)
			}
			for k, want := range map[string]func(syncstore.StoredRecord) bool{
				"bookmarks/during-bulk": func(r syncstore.StoredRecord) bool { return *r.Payload == `{"new":1}` },
				"bookmarks/r00004":      func(r syncstore.StoredRecord) bool { return *r.Payload == `{"changed":1}` },
				"bookmarks/r00005":      func(r syncstore.StoredRecord) bool { return r.SortIndex != nil && *r.SortIndex == 4242 },
				"bookmarks/r00008":      func(r syncstore.StoredRecord) bool { return r.Expiry != syncstore.NoExpiry },
			} {
				if r, ok := got.records[k]; !ok || !want(r) {
					t.Errorf("%s on s2: %+v", k, r)
				}
			}
			if _, ok := got.records["bookmarks/r00006"]; ok {
				t.Error("a record deleted during the bulk copy is on s2")
			}
			t.Logf("%d writes acknowledged during the move, all on s2", len(acked))
		})
	}
}

// TestMoveFromDefaultRowless: with RowlessNative a user of the default
// database without a route row moves, and gets a row naming the shard;
// without it such a user is legacy and refused.
func TestMoveFromDefaultRowless(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	e.seedData("", "frank", 1200)
	if res, err := e.m.MoveUser(ctx, "frank", "", "s1"); !errors.Is(err, migrate.ErrNotNative) {
		t.Fatalf("rowless user while rowless users are legacy: %+v, %v", res, err)
	}
	before := e.snapshot("", "frank")
	// The lease is renewed in the route table, which is in the database
	// the export reads (SQLite: one writer, readers alongside): time
	// passes with each batch so that renewals happen during the export.
	routes := &countingRoutes{RouteTable: e.def}
	m, err := migrate.New(migrate.Config{Native: e.def, Routes: routes, Clock: e.clock.now, Drain: time.Millisecond, LeaseTTL: 10 * time.Second,
		Shards: map[string]migrate.ShardStore{"s1": e.shards["s1"]}, RowlessNative: true,
		OnCopy: func(int64, int64) { e.clock.advance(3 * time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.MoveUser(ctx, "frank", "", "s1")
	if err != nil || res.Action != migrate.ActionMoved {
		t.Fatalf("move: %+v, %v", res, err)
	}
	// Lease, migrating, flip, release: 4 swaps; more are renewals.
	if routes.swaps <= 4 {
		t.Errorf("%d route swaps: the lease was never renewed during the export", routes.swaps)
	}
	e.sameData("s1", before, e.snapshot("s1", "frank"))
	if r := e.route("frank"); r == nil || r.State != syncstore.RouteNative || r.Shard != "s1" {
		t.Errorf("route: %+v", r)
	}
	if e.snapshot("", "frank") != nil {
		t.Error("the default database still holds the user")
	}
}

// TestMoveVerifyCatchesCorruption: a destination copy that differs from
// the source after the delta — a payload, only a TTL, an extra record —
// is not flipped; the user stays on s1 and the next run repairs the copy.
func TestMoveVerifyCatchesCorruption(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	e.seed("s1", "ivan", 200)
	before := e.snapshot("s1", "ivan")
	mg := before.records["meta/global"]
	for _, corrupt := range []struct {
		name, coll string
		rec        syncstore.StoredRecord
	}{
		{"meta/global payload", "meta", syncstore.StoredRecord{ID: "global", Modified: mg.Modified, Payload: ptr(`{"syncID":"other"}`), Expiry: syncstore.NoExpiry}},
		{"a TTL", "meta", syncstore.StoredRecord{ID: "global", Modified: mg.Modified, Payload: mg.Payload, Expiry: 4102444800}},
		{"extra record", "history", syncstore.StoredRecord{ID: "intruder", Modified: 1, Expiry: syncstore.NoExpiry}},
	} {
		migrate.SetFault(e.m, func(s string) error {
			if s == migrate.StepVerify {
				u, err := e.shards["s2"].LookupUser(ctx, "ivan")
				if err != nil {
					return err
				}
				return e.shards["s2"].ReplaceRecords(ctx, u.ID, corrupt.coll, []syncstore.StoredRecord{corrupt.rec})
			}
			return nil
		})
		res, err := e.m.MoveUser(ctx, "ivan", "s1", "s2")
		var ve *migrate.VerifyError
		if !errors.As(err, &ve) || res.Step != migrate.StepVerify {
			t.Fatalf("%s: %+v, %v", corrupt.name, res, err)
		}
		if r := e.route("ivan"); r.State != syncstore.RouteNative || r.Shard != "s1" || !strings.Contains(r.LastError, "verifying") {
			t.Errorf("%s: route %+v", corrupt.name, r)
		}
	}
	migrate.SetFault(e.m, nil)
	if res, err := e.m.MoveUser(ctx, "ivan", "s1", "s2"); err != nil || res.Action != migrate.ActionMoved {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	e.sameData("s2 after the repair", before, e.snapshot("s2", "ivan"))
}

// countingRoutes counts the compare-and-swaps of a route table.
type countingRoutes struct {
	syncstore.RouteTable
	swaps int
}

func (c *countingRoutes) CompareAndSwapRoute(ctx context.Context, old *syncstore.Route, next syncstore.Route) (bool, error) {
	c.swaps++
	return c.RouteTable.CompareAndSwapRoute(ctx, old, next)
}
