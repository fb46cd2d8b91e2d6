package migrate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// TestRollbackRestoresLegacyExactly: migrate everyone, roll everyone
// back: every legacy table is byte for byte what it was.
func TestRollbackRestoresLegacyExactly(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.String(), func(t *testing.T) {
			e := newEnv(t, l, smallSpec, openSQLite)
			ctx := testContext(t)
			before := e.legacyDigests()
			for _, u := range e.users {
				if _, err := e.m.MigrateUser(ctx, u.Name); err != nil {
					t.Fatal(err)
				}
			}
			for _, u := range e.users {
				res, err := e.m.RollbackUser(ctx, u.Name)
				if err != nil || res.Action != migrate.ActionRolledBack || res.Records != int64(len(u.Records)) {
					t.Fatalf("RollbackUser(%q): %+v, %v", u.Name, res, err)
				}
				if r := e.route(u.Name); r.State != syncstore.RouteLegacy || r.Owner != "" {
					t.Errorf("route after rollback: %+v", r)
				}
				res, err = e.m.RollbackUser(ctx, u.Name)
				if err != nil || res.Action != migrate.ActionAlreadyLegacy {
					t.Errorf("second rollback: %+v, %v", res, err)
				}
			}
			e.sameLegacy(before, "after migrate + rollback")
		})
	}
}

// TestRollbackCarriesNativeChanges: what clients did while native goes
// back to legacy: new, changed and deleted records, and a password change
// in a format the legacy server can verify. Expired records stay behind.
func TestRollbackCarriesNativeChanges(t *testing.T) {
	for _, l := range []legacytest.Layout{layouts[1], layouts[3]} {
		t.Run(l.String(), func(t *testing.T) {
			e := newEnv(t, l, smallSpec, openSQLite)
			ctx := testContext(t)
			u := e.users[0]
			nu := e.migrated(ctx, u.Name)
			p1, p2, ttl := `{"fresh":true}`, `{"edited":true}`, int64(60)
			if _, err := e.native.PutRecords(ctx, nu.ID, "bookmarks", []syncstore.WBO{{ID: "fresh-one", Payload: &p1}}, syncstore.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			edited := u.Records[3]
			if _, err := e.native.PutRecords(ctx, nu.ID, edited.Collection, []syncstore.WBO{{ID: edited.ID, Payload: &p2}}, syncstore.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.native.PutRecords(ctx, nu.ID, "newcoll", []syncstore.WBO{{ID: "a", Payload: &p1}, {ID: "short-lived", Payload: &p2, TTL: &ttl}}, syncstore.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			del := u.Records[6]
			if _, err := e.native.DeleteRecords(ctx, nu.ID, del.Collection, &syncstore.Query{IDs: []string{del.ID}}, syncstore.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			newHash := "d41d8cd98f00b204e9800998ecf8427e" // md5 hex: both servers verify it
			nu.PasswordHash = newHash
			if err := e.native.UpdateUser(ctx, nu); err != nil {
				t.Fatal(err)
			}
			e.clock.advance(61 * 1e9) // the TTL record expires

			res, err := e.m.RollbackUser(ctx, u.Name)
			if err != nil {
				t.Fatalf("rollback: %+v, %v", res, err)
			}
			lu, err := e.legacy.LookupUser(ctx, u.Name)
			if err != nil {
				t.Fatal(err)
			}
			if lu.PasswordHash != newHash || lu.Name != u.Name {
				t.Errorf("legacy user after rollback: %+v", lu)
			}
			got := map[string]*syncstore.StoredRecord{}
			if err := e.legacy.Records(ctx, lu, func(c string, r *syncstore.StoredRecord) error { got[c+"/"+r.ID] = r; return nil }); err != nil {
				t.Fatal(err)
			}
			if r := got["newcoll/a"]; r == nil || *r.Payload != p1 {
				t.Errorf("new native record missing from legacy: %+v", r)
			}
			if _, ok := got["newcoll/short-lived"]; ok {
				t.Error("an expired native record was written back to legacy")
			}
			if _, ok := got[del.Collection+"/"+del.ID]; ok {
				t.Error("a record deleted natively is back in legacy")
			}
			if r := got[edited.Collection+"/"+edited.ID]; r == nil || *r.Payload != p2 || r.Modified <= syncstore.Timestamp(edited.Modified) {
				t.Errorf("record edited natively: %+v", r)
			}
			if len(got) != len(u.Records)+1 {
				t.Errorf("legacy holds %d records after rollback", len(got))
			}
			if l.Variant == legacytest.Mozilla {
				if lu.Collections["newcoll"] < 101 {
					t.Errorf("custom collection got id %d", lu.Collections["newcoll"])
				}
			}
		})
	}
}

// TestRollbackKeepsUnverifiableHash: a bcrypt hash cannot log in on
// Mozilla's PHP server, so its hash stays.
func TestRollbackKeepsUnverifiableHash(t *testing.T) {
	e := newEnv(t, layouts[2], smallSpec, openSQLite)
	ctx := testContext(t)
	u := e.users[0]
	nu := e.migrated(ctx, u.Name)
	h, err := syncstore.HashPassword("new password", 4)
	if err != nil {
		t.Fatal(err)
	}
	nu.PasswordHash = h
	if err := e.native.UpdateUser(ctx, nu); err != nil {
		t.Fatal(err)
	}
	res, err := e.m.RollbackUser(ctx, u.Name)
	if err != nil || len(res.Notes) == 0 || !strings.Contains(res.Notes[0], "cannot verify") {
		t.Fatalf("%+v, %v", res, err)
	}
	lu, _ := e.legacy.LookupUser(ctx, u.Name)
	if lu.PasswordHash != u.PasswordHash {
		t.Errorf("legacy hash %q, want the original %q", lu.PasswordHash, u.PasswordHash)
	}
}

// TestRollbackFaults: a failure before the flip leaves the user native.
func TestRollbackFaults(t *testing.T) {
	e := newEnv(t, layouts[0], smallSpec, openSQLite)
	ctx := context.Background()
	u := e.users[1]
	if _, err := e.m.MigrateUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{migrate.StepMigrating, migrate.StepExport, migrate.StepVerify, migrate.StepFlip} {
		migrate.SetFault(e.m, func(s string) error {
			if s == step {
				return errInjected
			}
			return nil
		})
		res, err := e.m.RollbackUser(ctx, u.Name)
		if err == nil || res.Step != step {
			t.Fatalf("fault at %s: %+v, %v", step, res, err)
		}
		if r := e.route(u.Name); r.State != syncstore.RouteNative || r.Owner != "" || !strings.Contains(r.LastError, "rollback") {
			t.Errorf("fault at %s: route %+v", step, r)
		}
	}
	migrate.SetFault(e.m, nil)
	if res, err := e.m.RollbackUser(ctx, u.Name); err != nil || res.Action != migrate.ActionRolledBack {
		t.Fatalf("%+v, %v", res, err)
	}
}

// TestRollbackKeepsMD5OnFSyncMSWithoutBcrypt: the native server rehashes
// an MD5 password with bcrypt at the first login, but an FSyncMS install
// with BCRYPT off only checks MD5 (docs/legacy.md §1.3). Writing the
// bcrypt hash back locked the user out of the legacy server after a
// rollback (found by the README's walk-through). The legacy MD5 hash stays
// unless the legacy row shows bcrypt on (its hash is bcrypt already); the
// rollback says so in a note.
func TestRollbackKeepsMD5OnFSyncMSWithoutBcrypt(t *testing.T) {
	e := newEnv(t, layouts[0], smallSpec, openSQLite)
	ctx := testContext(t)
	h, err := syncstore.HashPassword("the same password", 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range e.users[:2] {
		md5Legacy := !strings.HasPrefix(u.PasswordHash, "$2a$")
		if md5Legacy != (i == 1) {
			t.Fatalf("fixture: user %d's legacy hash %q (want bcrypt for 0, MD5 for 1)", i, u.PasswordHash)
		}
		nu := e.migrated(ctx, u.Name)
		nu.PasswordHash = h // the native server's rehash at login
		if err := e.native.UpdateUser(ctx, nu); err != nil {
			t.Fatal(err)
		}
		res, err := e.m.RollbackUser(ctx, u.Name)
		if err != nil {
			t.Fatalf("rollback of user %d: %+v, %v", i, res, err)
		}
		lu, err := e.legacy.LookupUser(ctx, u.Name)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case md5Legacy && lu.PasswordHash != u.PasswordHash:
			t.Errorf("MD5 legacy user: legacy hash %q after rollback, want the MD5 %q an FSyncMS without BCRYPT can check", lu.PasswordHash, u.PasswordHash)
		case md5Legacy && (len(res.Notes) == 0 || !strings.Contains(strings.Join(res.Notes, "; "), "MD5")):
			t.Errorf("MD5 legacy user: notes %q, want one saying the MD5 hash was kept", res.Notes)
		case !md5Legacy && lu.PasswordHash != h:
			t.Errorf("bcrypt legacy user: legacy hash %q after rollback, want the native bcrypt hash", lu.PasswordHash)
		}
	}
}
