package migrate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// TestRemigrationClearsNativeExpiry: a record written natively with a TTL
// goes back to legacy on a rollback, where it never expires
// (docs/legacy.md §4.3); migrated again it must not keep the native copy's
// old expiry (imported records never expire, §5), and a dry run must not
// call such a copy identical.
func TestRemigrationClearsNativeExpiry(t *testing.T) {
	e := newEnv(t, layouts[0], smallSpec, openSQLite)
	ctx := testContext(t)
	u := e.users[2]
	nu := e.migrated(ctx, u.Name)
	p, ttl := `{"tab":1}`, int64(3600)
	if _, err := e.native.PutRecords(ctx, nu.ID, "tabs", []syncstore.WBO{{ID: "ttl-rec", Payload: &p, TTL: &ttl}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.RollbackUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Hour) // the native copy's expiry passes; legacy has none

	res, err := e.migrator(migrate.Config{DryRun: true}).MigrateUser(ctx, u.Name)
	if err != nil || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "differs") || !strings.Contains(res.Notes[0], "tabs/ttl-rec") {
		t.Errorf("dry run over a native copy that expires records legacy keeps: %v, %v", res.Notes, err)
	}
	if _, err := e.m.MigrateUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := e.native.GetRecord(ctx, nu.ID, "tabs", "ttl-rec"); err != nil {
		t.Errorf("legacy serves tabs/ttl-rec, native after the migration: %v", err)
	}
	err = e.native.ExportRecords(ctx, nu.ID, func(c string, r *syncstore.StoredRecord) error {
		if r.Expiry != syncstore.NoExpiry {
			t.Errorf("imported record %s/%s expires at %d", c, r.ID, r.Expiry)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRefusesUsersNativeCannotServe: a legacy account the native server
// could not serve as the legacy server did is refused before anything is
// written, in a dry run too, with a message naming the reason: a password
// hash the native server cannot verify (Mozilla PHP's site-salted SHA-256,
// docs/legacy.md §2.1; anything else in users.md5, §1.3) would lock the
// user out, and a disabled Mozilla account (status ≠ 1, §2.1; protocol.md
// §3) would be enabled, since native accounts have no status.
func TestRefusesUsersNativeCannotServe(t *testing.T) {
	p := `{"x":1}`
	md5 := "5f4dcc3b5aa765d61d8327deb882cf99"
	zero, one, two := int64(0), int64(1), int64(2)
	recs := []legacytest.Record{{Collection: "tabs", ID: "t", Modified: 130000000000, Payload: &p}}
	cases := []struct {
		layout legacytest.Layout
		user   legacytest.User
		want   string
	}{
		{layouts[2], legacytest.User{ID: 3, Name: "salted", PasswordHash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", Status: &one, Records: recs}, "password hash"},
		{layouts[2], legacytest.User{ID: 4, Name: "disabled", PasswordHash: md5, Status: &zero, Records: recs}, "disabled"},
		{layouts[2], legacytest.User{ID: 5, Name: "statustwo", PasswordHash: md5, Status: &two, Records: recs}, "disabled"},
		{layouts[2], legacytest.User{ID: 6, Name: "nullstatus", PasswordHash: md5, Records: recs}, "disabled"},
		{layouts[0], legacytest.User{Name: "crypthash", PasswordHash: "$1$abcdefgh$0123456789abcdefghijkl", Records: recs}, "password hash"},
		{layouts[0], legacytest.User{Name: "nohash", PasswordHash: "", Records: recs}, "password hash"},
	}
	for _, c := range cases {
		t.Run(c.user.Name, func(t *testing.T) {
			ctx := testContext(t)
			name, db := legacyWith(t, c.layout, []legacytest.User{c.user})
			e := envFrom(t, c.layout, db, name, []legacytest.User{c.user})
			for _, m := range []*migrate.Migrator{e.migrator(migrate.Config{DryRun: true}), e.m} {
				res, err := m.MigrateUser(ctx, c.user.Name)
				if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.user.Name) {
					t.Errorf("MigrateUser: %+v, %v; want an error about the %s", res, err, c.want)
				}
			}
			if r := e.route(c.user.Name); r != nil && r.State != syncstore.RouteLegacy {
				t.Errorf("route %+v", r)
			}
			if _, err := e.native.LookupUser(ctx, c.user.Name); !errors.Is(err, syncstore.ErrNotFound) {
				t.Errorf("native user created: %v", err)
			}
		})
	}
}

// TestRefusesCollectionNamesEqualInLegacyCollation: the legacy tables
// compare collection names (and ids) with a case-insensitive collation
// (docs/legacy.md §1.1, §2.1), so the PHP server serves "Bookmarks" and
// "bookmarks" as one collection, and Meta/Global to a client asking for
// meta/global; the native store compares bytes. Such users are refused
// with the names in the message, as usernames differing in case are
// (§5), rather than split into collections the client does not read; and
// Mozilla PHP collections rows naming one collection twice are named as
// such rather than as a missing row.
func TestRefusesCollectionNamesEqualInLegacyCollation(t *testing.T) {
	p := `{"x":1}`
	rec := func(c, id string) legacytest.Record {
		return legacytest.Record{Collection: c, ID: id, Modified: 130000000000, Payload: &p}
	}
	one := int64(1)
	md5 := "5f4dcc3b5aa765d61d8327deb882cf99"
	cases := []struct {
		name   string
		layout legacytest.Layout
		user   legacytest.User
		sql    []string
		want   []string
	}{
		{"fsyncms-case", layouts[0], legacytest.User{Name: "casey", PasswordHash: md5,
			Records: []legacytest.Record{rec("Bookmarks", "x"), rec("bookmarks", "y")}}, nil, []string{`"Bookmarks"`, `"bookmarks"`, "case"}},
		{"fsyncms-meta", layouts[1], legacytest.User{Name: "metty", PasswordHash: md5,
			Records: []legacytest.Record{rec("Meta", "Global"), rec("tabs", "t")}}, nil, []string{`Meta/Global`, "meta/global"}},
		{"mozilla-case", layouts[2], legacytest.User{ID: 3, Name: "mocase", PasswordHash: md5, Status: &one, Collections: map[string]int{"Foo": 101, "foo": 102},
			Records: []legacytest.Record{rec("Foo", "x"), rec("foo", "y")}}, nil, []string{`"Foo"`, `"foo"`}},
		{"mozilla-dup", layouts[2], legacytest.User{ID: 4, Name: "modup", PasswordHash: md5, Status: &one, Collections: map[string]int{"foo": 101},
			Records: []legacytest.Record{rec("foo", "x")}},
			[]string{"INSERT INTO collections VALUES (4, 102, 'foo')", "INSERT INTO wbo (username, collection, id, modified, payload, payload_size) VALUES (4, 102, 'y', 130000000000, 'q', 1)"},
			[]string{"101", "102", `"foo"`}},
		{"mozilla-standard-name", layouts[2], legacytest.User{ID: 5, Name: "mostd", PasswordHash: md5, Status: &one,
			Records: []legacytest.Record{rec("bookmarks", "x")}},
			[]string{"INSERT INTO collections VALUES (5, 101, 'bookmarks')", "INSERT INTO wbo (username, collection, id, modified, payload, payload_size) VALUES (5, 101, 'x', 130000000000, 'q', 1)"},
			[]string{"101", `"bookmarks"`, "7"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t)
			name, db := legacyWith(t, c.layout, []legacytest.User{c.user})
			for _, q := range c.sql {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			e := envFrom(t, c.layout, db, name, []legacytest.User{c.user})
			for _, m := range []*migrate.Migrator{e.migrator(migrate.Config{DryRun: true}), e.m} {
				res, err := m.MigrateUser(ctx, c.user.Name)
				if err == nil {
					t.Fatalf("MigrateUser: %+v, no error", res)
				}
				for _, w := range c.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %s", err, w)
					}
				}
			}
			if r := e.route(c.user.Name); r != nil && r.State != syncstore.RouteLegacy {
				t.Errorf("route %+v", r)
			}
		})
	}
}

// TestRollbackRefusesNamesEqualInLegacyCollation: the native store keeps
// collections "Foo" and "foo" apart; written back to a legacy database
// whose collation takes them for one (docs/legacy.md §1.1, §2.1), the PHP
// server would serve them merged (FSyncMS) or only one of them (Mozilla
// PHP). The rollback refuses with the names, and the user stays native.
func TestRollbackRefusesNamesEqualInLegacyCollation(t *testing.T) {
	for _, l := range []legacytest.Layout{layouts[0], layouts[2]} {
		t.Run(l.String(), func(t *testing.T) {
			e := newEnv(t, l, legacytest.Spec{Users: 1, Records: []int{20}, BcryptCost: 4}, openSQLite)
			ctx := testContext(t)
			u := e.users[0]
			nu := e.migrated(ctx, u.Name)
			p := `{"x":1}`
			for i, c := range []string{"Foo", "foo"} {
				if _, err := e.native.PutRecords(ctx, nu.ID, c, []syncstore.WBO{{ID: fmt.Sprint("r", i), Payload: &p}}, syncstore.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			before := e.legacyDigests()
			res, err := e.m.RollbackUser(ctx, u.Name)
			if err == nil || !strings.Contains(err.Error(), `"Foo"`) || !strings.Contains(err.Error(), `"foo"`) {
				t.Fatalf("rollback: %+v, %v", res, err)
			}
			if r := e.route(u.Name); r == nil || r.State != syncstore.RouteNative {
				t.Errorf("route %+v", r)
			}
			e.sameLegacy(before, "after a refused rollback")
		})
	}
}

// TestRefusesNullModified: the PHP servers always write modified
// (docs/legacy.md §1.2, §2.1); a NULL one (a row written by something
// else) was imported as 0.00 and written back as 0 by a rollback. It is
// refused with the record named.
func TestRefusesNullModified(t *testing.T) {
	p := `{"x":1}`
	one := int64(1)
	for _, l := range []legacytest.Layout{layouts[1], layouts[3]} {
		t.Run(l.String(), func(t *testing.T) {
			ctx := testContext(t)
			name, db := legacytest.NewDatabase(t, "mig_", "")
			if err := legacytest.CreateSchema(ctx, db, l); err != nil {
				t.Fatal(err)
			}
			u := legacytest.User{ID: 9, Name: "nully", PasswordHash: "5f4dcc3b5aa765d61d8327deb882cf99", Records: []legacytest.Record{
				{Collection: "tabs", ID: "t", Modified: 130000000000, Payload: &p},
				{Collection: "tabs", ID: "u", Modified: 130000000000, Payload: &p},
			}}
			if l.Variant == legacytest.Mozilla {
				u.Status = &one
			}
			if err := legacytest.Insert(ctx, db, l, []legacytest.User{u}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "UPDATE "+l.WboTable(u.ID)+" SET modified = NULL WHERE id = 'u'"); err != nil {
				t.Fatal(err)
			}
			e := envFrom(t, l, db, name, []legacytest.User{u})
			for _, m := range []*migrate.Migrator{e.migrator(migrate.Config{DryRun: true}), e.m} {
				res, err := m.MigrateUser(ctx, u.Name)
				if err == nil || !strings.Contains(err.Error(), "tabs/u") || !strings.Contains(err.Error(), "NULL") {
					t.Errorf("MigrateUser: %+v, %v", res, err)
				}
			}
		})
	}
}
