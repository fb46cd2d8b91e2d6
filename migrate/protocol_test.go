package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// The native backends implement the migrate tool's interfaces. The
// assertions live here, on the consumer's side, because the backends must
// not import migrate.
var (
	_ syncstore.BulkStore  = (*sqlitestore.Store)(nil)
	_ syncstore.RouteTable = (*sqlitestore.Store)(nil)
	_ syncstore.BulkStore  = (*mysqlstore.Store)(nil)
	_ syncstore.RouteTable = (*mysqlstore.Store)(nil)
)

// native is a native backend with the migrate tool's interfaces.
type native interface {
	syncstore.Store
	syncstore.BulkStore
	syncstore.RouteTable
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is a settable clock shared by the store and the migrator.
type fakeClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func openSQLite(t testing.TB, clock func() time.Time) native {
	t.Helper()
	s, err := sqlitestore.Open(testContext(t), sqlitestore.Config{Dir: t.TempDir(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openMySQL(t testing.TB, clock func() time.Time) native {
	t.Helper()
	name, _ := legacytest.NewDatabase(t, "mig_", "")
	s, err := mysqlstore.Open(testContext(t), mysqlstore.Config{DSN: legacytest.DSN(t, name), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// legacyWith creates a throwaway legacy database of layout l holding
// users, and returns its name and a connection to it.
func legacyWith(t testing.TB, l legacytest.Layout, users []legacytest.User) (string, *sql.DB) {
	t.Helper()
	ctx := testContext(t)
	name, db := legacytest.NewDatabase(t, "mig_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	return name, db
}

// env is a legacy fixture, a native store and a migrator between them.
type env struct {
	t      testing.TB
	layout legacytest.Layout
	db     *sql.DB
	users  []legacytest.User
	legacy *migrate.LegacyDB
	native native
	clock  *fakeClock
	m      *migrate.Migrator
}

var layouts = []legacytest.Layout{
	{Variant: legacytest.FSyncMS},
	{Variant: legacytest.FSyncMS, Prefix: "weave"},
	{Variant: legacytest.Mozilla},
	{Variant: legacytest.Mozilla, Shards: 4},
}

var smallSpec = legacytest.Spec{Users: 3, Records: []int{600, 120, 30}, BigPayloads: 2, BcryptCost: 4}

func newEnv(t testing.TB, l legacytest.Layout, spec legacytest.Spec, open func(testing.TB, func() time.Time) native) *env {
	t.Helper()
	ctx := testContext(t)
	users := legacytest.Generate(7, l, spec)
	name, db := legacyWith(t, l, users)
	lg, err := migrate.OpenLegacy(ctx, legacytest.DSN(t, name), migrate.LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	e := &env{t: t, layout: l, db: db, users: users, legacy: lg, clock: &fakeClock{}}
	e.native = open(t, e.clock.now)
	e.m = e.migrator(migrate.Config{})
	return e
}

func (e *env) migrator(cfg migrate.Config) *migrate.Migrator {
	e.t.Helper()
	cfg.Legacy, cfg.Native, cfg.Routes, cfg.Clock = e.legacy, e.native, e.native, e.clock.now
	return newMigrator(e.t, cfg)
}

// newMigrator is migrate.New with the tests' short drain and lease
// unless cfg sets them.
func newMigrator(t testing.TB, cfg migrate.Config) *migrate.Migrator {
	t.Helper()
	if cfg.Drain == 0 {
		cfg.Drain = 20 * time.Millisecond
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	m, err := migrate.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) route(name string) *syncstore.Route {
	e.t.Helper()
	r, err := e.native.GetRoute(context.Background(), syncstore.NormalizeUsername(name))
	if errors.Is(err, syncstore.ErrNoRoute) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func ptrEq[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// migrated migrates the user named name with e's migrator and returns
// the native account.
func (e *env) migrated(ctx context.Context, name string) *syncstore.User {
	e.t.Helper()
	if _, err := e.m.MigrateUser(ctx, name); err != nil {
		e.t.Fatal(err)
	}
	nu, err := e.native.LookupUser(ctx, name)
	if err != nil {
		e.t.Fatalf("native user %q after its migration: %v", name, err)
	}
	return nu
}

// checkNative compares the native copy of u with the fixture exactly.
func (e *env) checkNative(u legacytest.User) {
	e.t.Helper()
	ctx := context.Background()
	nu, err := e.native.LookupUser(ctx, u.Name)
	if err != nil {
		e.t.Fatalf("native user %q: %v", u.Name, err)
	}
	if nu.Name != syncstore.NormalizeUsername(u.Name) || nu.PasswordHash != u.PasswordHash {
		e.t.Errorf("native user %+v, want name %q hash %q", nu, syncstore.NormalizeUsername(u.Name), u.PasswordHash)
	}
	if u.Email != nil && nu.Email != *u.Email {
		e.t.Errorf("native email %q, want %q", nu.Email, *u.Email)
	}
	want := map[string]legacytest.Record{}
	newest := map[string]syncstore.Timestamp{}
	for _, r := range u.Records {
		want[r.Collection+"/"+r.ID] = r
		newest[r.Collection] = max(newest[r.Collection], syncstore.Timestamp(r.Modified))
	}
	n := 0
	err = e.native.ExportRecords(ctx, nu.ID, func(c string, r *syncstore.StoredRecord) error {
		n++
		w, ok := want[c+"/"+r.ID]
		if !ok {
			e.t.Errorf("unexpected native record %s/%s", c, r.ID)
			return nil
		}
		if int64(r.Modified) != w.Modified || !ptrEq(r.SortIndex, w.SortIndex) || !ptrEq(r.ParentID, w.ParentID) ||
			!ptrEq(r.PredecessorID, w.PredecessorID) || !ptrEq(r.Payload, w.Payload) || r.Expiry != syncstore.NoExpiry {
			e.t.Errorf("native record %s/%s differs from legacy", c, r.ID)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if n != len(u.Records) {
		e.t.Errorf("native holds %d records of %q, legacy %d", n, u.Name, len(u.Records))
	}
	ts, err := e.native.CollectionTimestamps(ctx, nu.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ts) != len(newest) {
		e.t.Errorf("info/collections %v, want %v", ts, newest)
	}
	for c, w := range newest {
		if ts[c] != w {
			e.t.Errorf("info/collections[%s] = %s, want %s", c, ts[c], w)
		}
	}
}

func TestMigrateEveryVariant(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.String(), func(t *testing.T) {
			e := newEnv(t, l, smallSpec, openSQLite)
			ctx := testContext(t)
			for _, u := range e.users {
				res, err := e.m.MigrateUser(ctx, u.Name)
				if err != nil {
					t.Fatalf("MigrateUser(%q): %v", u.Name, err)
				}
				if res.Action != migrate.ActionMigrated || res.Records != int64(len(u.Records)) || res.Window < 20*time.Millisecond {
					t.Errorf("result %+v", res)
				}
				if r := e.route(u.Name); r == nil || r.State != syncstore.RouteNative || r.Owner != "" || r.LastError != "" {
					t.Errorf("route after migration: %+v", r)
				}
				e.checkNative(u)
				// Again: nothing to do.
				res, err = e.m.MigrateUser(ctx, strings.ToUpper(u.Name))
				if err != nil || res.Action != migrate.ActionAlreadyNative {
					t.Errorf("second MigrateUser: %+v, %v", res, err)
				}
			}
			// New writes get timestamps above every imported one.
			u := e.users[0]
			nu, _ := e.native.LookupUser(ctx, u.Name)
			var newest int64
			for _, r := range u.Records {
				newest = max(newest, r.Modified)
			}
			e.clock.advance(-24 * 365 * 50 * time.Hour) // a clock far behind the data
			p := "x"
			wr, err := e.native.PutRecords(ctx, nu.ID, "tabs", []syncstore.WBO{{ID: "new", Payload: &p}}, syncstore.WriteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if int64(wr.Modified) <= newest {
				t.Errorf("write after import got %s, not above the newest imported %s", wr.Modified, syncstore.Timestamp(newest))
			}
		})
	}
}

func TestMigrateToMySQL(t *testing.T) {
	e := newEnv(t, legacytest.Layout{Variant: legacytest.Mozilla, Shards: 3}, smallSpec, openMySQL)
	ctx := testContext(t)
	for _, u := range e.users {
		if res, err := e.m.MigrateUser(ctx, u.Name); err != nil || res.Action != migrate.ActionMigrated {
			t.Fatalf("MigrateUser(%q): %+v %v", u.Name, res, err)
		}
		e.checkNative(u)
	}
}

func TestUnknownUser(t *testing.T) {
	e := newEnv(t, layouts[0], legacytest.Spec{Users: 1, Records: []int{5}}, openSQLite)
	res, err := e.m.MigrateUser(testContext(t), "nobody")
	if !errors.Is(err, migrate.ErrUnknownUser) || res.Action != migrate.ActionFailed || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("unknown user: %+v, %v", res, err)
	}
	if e.route("nobody") != nil {
		t.Error("a route row was created for an unknown user")
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	e := newEnv(t, layouts[2], smallSpec, openSQLite)
	ctx := testContext(t)
	m := e.migrator(migrate.Config{DryRun: true})
	res, err := m.MigrateUser(ctx, e.users[0].Name)
	if err != nil || res.Action != migrate.ActionDryRun || res.Records != int64(len(e.users[0].Records)) {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if _, err := e.native.LookupUser(ctx, e.users[0].Name); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("dry run created the native user: %v", err)
	}
	if e.route(e.users[0].Name) != nil {
		t.Error("dry run wrote a route")
	}
	// After a real migration a dry run finds the copy identical.
	if _, err := e.m.MigrateUser(ctx, e.users[0].Name); err != nil {
		t.Fatal(err)
	}
	res, err = m.MigrateUser(ctx, e.users[0].Name)
	if err != nil || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "identical") {
		t.Fatalf("dry run after migration: %+v, %v", res, err)
	}
}
