package migrate_test

import (
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// shardedEnv is a legacy env whose native side has shards s1 and s2 next
// to the default database.
func shardedEnv(t *testing.T) (*env, map[string]native) {
	e := newEnv(t, layouts[0], smallSpec, openMySQL)
	shards := map[string]native{"s1": openMySQL(t, e.clock.now), "s2": openSQLite(t, e.clock.now)}
	return e, shards
}

func withShards(cfg migrate.Config, shards map[string]native) migrate.Config {
	cfg.Shards = map[string]migrate.ShardStore{}
	for n, s := range shards {
		cfg.Shards[n] = s
	}
	return cfg
}

// TestLegacyToShard: with a target shard the legacy user's data goes
// there (nothing in the default database), the flip names the shard and
// keeps the legacy node; the rollback reads from that shard and restores
// the legacy tables exactly.
func TestLegacyToShard(t *testing.T) {
	e, shards := shardedEnv(t)
	ctx := testContext(t)
	before := e.legacyDigests()
	m := e.migrator(withShards(migrate.Config{Node: "n1", Target: func(string) string { return "s2" }}, shards))
	u := e.users[0]
	res, err := m.MigrateUser(ctx, u.Name)
	if err != nil || res.Action != migrate.ActionMigrated || res.To != "s2" {
		t.Fatalf("MigrateUser: %+v, %v", res, err)
	}
	r := e.route(u.Name)
	if r.State != syncstore.RouteNative || r.Shard != "s2" || r.Node != "n1" || r.Owner != "" {
		t.Errorf("route %+v, want native on s2, node n1", r)
	}
	if _, err := e.native.LookupUser(ctx, u.Name); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("the default database holds the user: %v", err)
	}
	def := e.native
	e.native = shards["s2"]
	e.checkNative(u)
	e.native = def

	// A rollback with the same migrator reads from s2.
	if res, err := m.RollbackUser(ctx, u.Name); err != nil || res.Action != migrate.ActionRolledBack {
		t.Fatalf("RollbackUser: %+v, %v", res, err)
	}
	e.sameLegacy(before, "after a migration to s2 and its rollback")
	if r := e.route(u.Name); r.State != syncstore.RouteLegacy || r.Node != "n1" {
		t.Errorf("route after the rollback: %+v", r)
	}
	// A target the migrator does not know fails the user, who stays legacy.
	bad := e.migrator(withShards(migrate.Config{Target: func(string) string { return "s9" }}, shards))
	if _, err := bad.MigrateUser(ctx, e.users[1].Name); !errors.Is(err, migrate.ErrUnknownShard) {
		t.Errorf("unknown target: %v", err)
	}
	if r := e.route(e.users[1].Name); r != nil && r.State != syncstore.RouteLegacy {
		t.Errorf("route after an unknown target: %+v", r)
	}
}

// TestLegacyToPickedShard: without --to each user goes to the shard
// syncstore.PickShard chooses over the open shards, the one a
// registration of the same name would get; a closed shard gets nobody.
func TestLegacyToPickedShard(t *testing.T) {
	e, shards := shardedEnv(t)
	ctx := testContext(t)
	weights := []syncstore.ShardWeight{{Name: "s1", Weight: 1}, {Name: "s2", Weight: 1}}
	pick := func(user string) string { s, _ := syncstore.PickShard(user, weights); return s }
	m := e.migrator(withShards(migrate.Config{Target: pick}, shards))
	seen := map[string]int{}
	for _, u := range e.users {
		if _, err := m.MigrateUser(ctx, u.Name); err != nil {
			t.Fatal(err)
		}
		want := pick(syncstore.NormalizeUsername(u.Name))
		if r := e.route(u.Name); r.Shard != want {
			t.Errorf("%s is on %q, PickShard says %q", u.Name, r.Shard, want)
		}
		def := e.native
		e.native = shards[want]
		e.checkNative(u)
		e.native = def
		seen[want]++
	}
	t.Logf("users per shard: %v", seen)
	// Closed s2: everyone picks s1.
	weights[1].Weight = 0
	for _, u := range e.users {
		if got := pick(syncstore.NormalizeUsername(u.Name)); got != "s1" {
			t.Errorf("with s2 closed %s picks %q", u.Name, got)
		}
	}
}

// TestMoveInvalidatesDestinationCache: the server's memcached layer of
// the destination shard (prefix "<prefix>s2:") serves the moved data at
// once, even when it had cached older answers for the same account (a
// user moved away and back with the copy kept); a memcached that does
// not answer fails the move before the flip.
func TestMoveInvalidatesDestinationCache(t *testing.T) {
	e := newShardEnv(t, openMySQL)
	ctx := testContext(t)
	prefix := cachePrefix(t)
	mc := testservices.Memcached(t)
	srv := newCache(t, e.shards["s2"], mc, prefix+"s2:") // the server's layer over s2
	keep := e.migrator(migrate.Config{KeepSource: true,
		ShardCaches: map[string]migrate.UserCache{"s2": newCache(t, e.shards["s2"], mc, prefix+"s2:")}})

	// memcached unreachable from the migrate tool: the user is not moved.
	e.seed("s1", "hugo", 50)
	dead := e.migrator(migrate.Config{ShardCaches: map[string]migrate.UserCache{"s2": newCache(t, e.shards["s2"], "127.0.0.1:1", prefix+"s2:")}})
	res, err := dead.MoveUser(ctx, "hugo", "s1", "s2")
	if err == nil || res.Step != migrate.StepCache {
		t.Fatalf("moving with an unreachable memcached: %+v, %v", res, err)
	}
	if r := e.route("hugo"); r.Shard != "s1" || r.State != syncstore.RouteNative {
		t.Fatalf("route after the failed invalidation: %+v", r)
	}

	// Moved to s2 and back with the copies kept: s2 keeps an account
	// whose answers the server cached.
	e.seed("s1", "gina", 200)
	for _, mv := range [][2]string{{"s1", "s2"}, {"s2", "s1"}} {
		if _, err := keep.MoveUser(ctx, "gina", mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	u2, err := e.shards["s2"].LookupUser(ctx, "gina")
	if err != nil {
		t.Fatal(err)
	}
	stamps0, meta0 := infoAndMeta(t, srv, u2.ID) // cached now
	s1 := e.shards["s1"]
	u1, _ := s1.LookupUser(ctx, "gina")
	if _, err := s1.PutRecords(ctx, u1.ID, "meta", []syncstore.WBO{{ID: "global", Payload: ptr(`{"syncID":"reset"}`)}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := keep.MoveUser(ctx, "gina", "s1", "s2"); err != nil || res.Action != migrate.ActionMoved {
		t.Fatalf("moving again: %+v, %v", res, err)
	}
	if u, _ := e.shards["s2"].LookupUser(ctx, "gina"); u.ID != u2.ID {
		t.Fatalf("the s2 account changed id (%d, was %d): the test shows nothing", u.ID, u2.ID)
	}
	wantStamps, wantMeta := infoAndMeta(t, e.shards["s2"], u2.ID)
	if maps.Equal(wantStamps, stamps0) || wantMeta == meta0 {
		t.Fatal("the change on s1 did not reach s2; the test shows nothing")
	}
	gotStamps, gotMeta := infoAndMeta(t, srv, u2.ID)
	if !maps.Equal(gotStamps, wantStamps) || gotMeta != wantMeta {
		t.Errorf("the s2 server serves stale answers after the move:\n info/collections %v\n want %v\n meta/global %q\n want %q",
			gotStamps, wantStamps, gotMeta, wantMeta)
	}
}

// TestResolveShard: --all and --canary of a move select the users whose
// row names the source shard (native, or being moved back to native),
// the rowless users of the default database when those are native, and
// the copies a stopped move left behind; a canary takes the users whose
// bucket is below N, among those only.
func TestResolveShard(t *testing.T) {
	e := newShardEnv(t, openSQLite)
	ctx := testContext(t)
	var onS1 []string
	for i := range 40 {
		name := "c" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		e.seed("s1", name, 3)
		onS1 = append(onS1, name)
	}
	e.seed("s2", "other", 3)
	e.seedData("", "rowless", 3)
	if err := e.def.SetRoute(ctx, syncstore.Route{Username: "legacyone", State: syncstore.RouteLegacy, Shard: "s1"}); err != nil {
		t.Fatal(err)
	}
	// A leftover: on s1, but the row names s2.
	e.seedData("s1", "leftover", 3)
	if err := e.def.SetRoute(ctx, syncstore.Route{Username: "leftover", State: syncstore.RouteNative, Shard: "s2"}); err != nil {
		t.Fatal(err)
	}
	toS2 := func(user, shard string) bool { return shard == "s2" }

	all := &migrate.Selection{All: true}
	got, err := all.ResolveShard(ctx, e.def, migrate.ShardSource{Shard: "s1", Accounts: e.shards["s1"], Leftover: toS2})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append([]string(nil), onS1...), "leftover")
	if !sameSet(got, want) {
		t.Errorf("--all from s1: %v, want %v", got, want)
	}
	got, _ = all.ResolveShard(ctx, e.def, migrate.ShardSource{Shard: "s1", Accounts: e.shards["s1"]})
	if !sameSet(got, onS1) {
		t.Errorf("--all from s1 with --keep-source: %v, want %v", got, onS1)
	}

	canary := &migrate.Selection{Canary: 30}
	got, _ = canary.ResolveShard(ctx, e.def, migrate.ShardSource{Shard: "s1", Accounts: e.shards["s1"]})
	var wantCanary []string
	for _, n := range onS1 {
		if syncstore.Bucket(n) < 30 {
			wantCanary = append(wantCanary, n)
		}
	}
	if !sameSet(got, wantCanary) || canary.Scanned != len(onS1) {
		t.Errorf("--canary 30 from s1: %v of %d, want %v of %d", got, canary.Scanned, wantCanary, len(onS1))
	}
	if len(wantCanary) == 0 || len(wantCanary) == len(onS1) {
		t.Errorf("the canary of %d users selects %d: the test shows nothing", len(onS1), len(wantCanary))
	}

	got, _ = all.ResolveShard(ctx, e.def, migrate.ShardSource{Shard: "", Accounts: e.def, RowlessNative: true})
	if !sameSet(got, []string{"rowless"}) {
		t.Errorf("--all from default with rowless native users: %v", got)
	}
	got, _ = all.ResolveShard(ctx, e.def, migrate.ShardSource{Shard: "", Accounts: e.def})
	if len(got) != 0 {
		t.Errorf("--all from default with rowless legacy users: %v", got)
	}

	// A canary move from s1 moves exactly those users.
	rep, err := e.m.RunMove(ctx, wantCanary, "s1", func(string) string { return "s2" }, 2, nil)
	if err != nil || rep.Failed() > 0 || len(rep.Results) != len(wantCanary) {
		t.Fatalf("RunMove: %d results, %d failed, %v", len(rep.Results), rep.Failed(), err)
	}
	for _, n := range onS1 {
		want := "s1"
		if contains(wantCanary, n) {
			want = "s2"
		}
		if r := e.route(n); r.Shard != want {
			t.Errorf("%s is on %q after the canary, want %q", n, r.Shard, want)
		}
	}
	if ws := rep.Windows(); len(ws) != len(wantCanary) {
		t.Errorf("%d windows for %d users", len(ws), len(wantCanary))
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, v := range m {
		if v != 0 {
			return false
		}
	}
	return true
}

// TestRollbackAfterMove: a user migrated to s1 and moved to s2 is rolled
// back from s2 with what they wrote there. The rollback keeps the native
// copy (as without shards) on s2, which the legacy row still names; a
// later migration to another shard deletes it: a shard holds the user
// only while their row names it, none is left orphaned.
func TestRollbackAfterMove(t *testing.T) {
	e, shards := shardedEnv(t)
	ctx := testContext(t)
	target := "s1"
	m := e.migrator(withShards(migrate.Config{Node: "n1", Target: func(string) string { return target }}, shards))
	u := e.users[0]
	if _, err := m.MigrateUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	if res, err := m.MoveUser(ctx, u.Name, "s1", "s2"); err != nil || res.Action != migrate.ActionMoved {
		t.Fatalf("MoveUser: %+v, %v", res, err)
	}
	nu, err := shards["s2"].LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	p := `{"written on s2":true}`
	if _, err := shards["s2"].PutRecords(ctx, nu.ID, "bookmarks", []syncstore.WBO{{ID: "on-s2", Payload: &p}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if res, err := m.RollbackUser(ctx, u.Name); err != nil || res.Action != migrate.ActionRolledBack {
		t.Fatalf("RollbackUser: %+v, %v", res, err)
	}
	lu, err := e.legacy.LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
	var back bool
	if err := e.legacy.Records(ctx, lu, func(c string, r *syncstore.StoredRecord) error {
		back = back || c+"/"+r.ID == "bookmarks/on-s2"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !back {
		t.Error("the record written on s2 is not in legacy after the rollback")
	}
	r := e.route(u.Name)
	if r.State != syncstore.RouteLegacy || r.Node != "n1" || r.Owner != "" {
		t.Errorf("route after the rollback: %+v", r)
	}
	held := func(what string) {
		t.Helper()
		r := e.route(u.Name)
		for name, s := range shards {
			_, err := s.LookupUser(ctx, u.Name)
			named := r.Shard == name
			if named != (err == nil) {
				t.Errorf("%s: shard %s holds the user: %v, the row (%+v) names it: %v", what, name, err == nil, r, named)
			}
		}
	}
	held("after the rollback")
	// Migrated again to s1: nothing left on s2.
	res, err := m.MigrateUser(ctx, u.Name)
	if err != nil || res.Action != migrate.ActionMigrated || !slices.Contains(res.Notes, "deleted the copy a rollback left on shard s2") {
		t.Fatalf("MigrateUser again: %+v, %v", res, err)
	}
	if r := e.route(u.Name); r.State != syncstore.RouteNative || r.Shard != "s1" || r.Owner != "" {
		t.Errorf("route after migrating again: %+v", r)
	}
	held("migrated again to s1")
}
