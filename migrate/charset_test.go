package migrate_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// TestCharsetProblem: a latin1 table holding bytes that are not UTF-8
// (text written through a proper latin1 connection) fails that user with
// an error naming the record and the column charset; nothing flips.
func TestCharsetProblem(t *testing.T) {
	ctx := testContext(t)
	l := legacytest.Layout{Variant: legacytest.FSyncMS}
	name, db := legacytest.NewDatabase(t, "mig_", "latin1")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	latin1 := "{\"title\":\"caf\xe9\"}" // é in latin1: not UTF-8
	ok := `{"title":"plain"}`
	users := []legacytest.User{
		{Name: "Hans", PasswordHash: "5f4dcc3b5aa765d61d8327deb882cf99", Records: []legacytest.Record{{Collection: "bookmarks", ID: "b1", Modified: 130000000000, Payload: &latin1}}},
		{Name: "ida", PasswordHash: "5f4dcc3b5aa765d61d8327deb882cf99", Records: []legacytest.Record{{Collection: "bookmarks", ID: "b1", Modified: 130000000000, Payload: &ok}}},
	}
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	e := envFrom(t, l, db, name, users)
	res, err := e.m.MigrateUser(ctx, "hans")
	if err == nil || !strings.Contains(err.Error(), "not valid UTF-8") || !strings.Contains(err.Error(), "latin1") || !strings.Contains(err.Error(), "bookmarks/b1") {
		t.Fatalf("latin1 bytes: %+v, %v", res, err)
	}
	if r := e.route("hans"); r == nil || r.State != syncstore.RouteLegacy {
		t.Errorf("route %+v", r)
	}
	if _, err := e.m.MigrateUser(ctx, "ida"); err != nil {
		t.Errorf("a clean user of the same database: %v", err)
	}
}

// TestNodeMismatch: a run for node n1 leaves users of another node alone.
func TestNodeMismatch(t *testing.T) {
	e := newEnv(t, layouts[0], legacytest.Spec{Users: 1, Records: []int{10}, BcryptCost: 4}, openSQLite)
	ctx := testContext(t)
	name := strings.ToLower(e.users[0].Name)
	if err := e.native.SetRoute(ctx, syncstore.Route{Username: name, State: syncstore.RouteLegacy, Node: "n2"}); err != nil {
		t.Fatal(err)
	}
	m := e.migrator(migrate.Config{Node: "n1"})
	if _, err := m.MigrateUser(ctx, name); err == nil || !strings.Contains(err.Error(), `node "n2"`) {
		t.Fatalf("other node: %v", err)
	}
	m = e.migrator(migrate.Config{Node: "n2"})
	if _, err := m.MigrateUser(ctx, name); err != nil {
		t.Fatal(err)
	}
	if r := e.route(name); r.Node != "n2" || r.State != syncstore.RouteNative {
		t.Errorf("route %+v", r)
	}
}

// envFrom wraps an already filled legacy database.
func envFrom(t *testing.T, l legacytest.Layout, db *sql.DB, name string, users []legacytest.User) *env {
	lg, err := migrate.OpenLegacy(testContext(t), legacytest.DSN(t, name), migrate.LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	e := &env{t: t, layout: l, db: db, users: users, legacy: lg, clock: &fakeClock{}}
	e.native = openSQLite(t, e.clock.now)
	e.m = e.migrator(migrate.Config{})
	return e
}
