package migrate_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// legacyDigests returns the full-dump digest of every legacy table.
func (e *env) legacyDigests() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, table := range e.layout.Tables() {
		d, n, err := legacytest.TableDigest(context.Background(), e.db, table)
		if err != nil {
			e.t.Fatal(err)
		}
		out[table] = fmt.Sprintf("%d rows %s", n, d)
	}
	return out
}

func (e *env) sameLegacy(want map[string]string, what string) {
	e.t.Helper()
	got := e.legacyDigests()
	for k, v := range want {
		if got[k] != v {
			e.t.Errorf("%s: legacy table %s changed: %s, was %s", what, k, got[k], v)
		}
	}
}

// checkNativeEqualsLegacy compares the native copy with the legacy tables
// as they are now, field by field.
func (e *env) checkNativeEqualsLegacy(name string) {
	e.t.Helper()
	ctx := context.Background()
	lu, err := e.legacy.LookupUser(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[string]*syncstore.StoredRecord{}
	if err := e.legacy.Records(ctx, lu, func(c string, r *syncstore.StoredRecord) error { want[c+"/"+r.ID] = r; return nil }); err != nil {
		e.t.Fatal(err)
	}
	nu, err := e.native.LookupUser(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	if nu.PasswordHash != lu.PasswordHash {
		e.t.Errorf("native password hash %q, legacy %q", nu.PasswordHash, lu.PasswordHash)
	}
	n := 0
	err = e.native.ExportRecords(ctx, nu.ID, func(c string, r *syncstore.StoredRecord) error {
		n++
		w := want[c+"/"+r.ID]
		if w == nil || w.Modified != r.Modified || !ptrEq(w.SortIndex, r.SortIndex) || !ptrEq(w.ParentID, r.ParentID) ||
			!ptrEq(w.PredecessorID, r.PredecessorID) || !ptrEq(w.Payload, r.Payload) {
			e.t.Errorf("native %s/%s differs from legacy", c, r.ID)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if n != len(want) {
		e.t.Errorf("native holds %d records, legacy %d", n, len(want))
	}
}

// legacyWrites changes the user's legacy data the way the PHP server would
// while the bulk copy runs: a new record, a payload overwrite, a
// sortindex-only update that keeps modified, a deletion and a password
// change; and the two changes the delta's fingerprints must still find: a
// payload overwrite of the same length within the same 10 ms tick (modified
// kept) and a predecessorid-only update. It returns the id of the deleted
// record.
func (e *env) legacyWrites(u legacytest.User) string {
	e.t.Helper()
	ctx := context.Background()
	var stmts []string
	var args [][]any
	add := func(q string, a ...any) { stmts = append(stmts, q); args = append(args, a) }
	ts := u.Records[len(u.Records)-1].Modified + 10_000
	upd, sortOnly, del, sameTick, predOnly := u.Records[3], u.Records[4], u.Records[5], u.Records[6], u.Records[7]
	// Same length, other bytes, modified kept.
	const sameLength = "CONCAT('{\"x\":\"', REPEAT('y', LENGTH(payload) - 8), '\"}')"
	switch e.layout.Variant {
	case legacytest.FSyncMS:
		w, us := e.layout.WboTable(0), e.layout.UsersTable()
		add("INSERT INTO "+w+" (username, id, collection, modified, payload, payload_size) VALUES (?, 'during-bulk', 'tabs', ?, '{\"new\":1}', 9)", u.Name, float64(ts)/100)
		add("UPDATE "+w+" SET payload = '{\"changed\":1}', payload_size = 13, modified = ? WHERE username = ? AND collection = ? AND id = ?", float64(ts)/100, u.Name, upd.Collection, upd.ID)
		add("UPDATE "+w+" SET sortindex = 4242 WHERE username = ? AND collection = ? AND id = ?", u.Name, sortOnly.Collection, sortOnly.ID)
		add("DELETE FROM "+w+" WHERE username = ? AND collection = ? AND id = ?", u.Name, del.Collection, del.ID)
		add("UPDATE "+w+" SET payload = "+sameLength+" WHERE username = ? AND collection = ? AND id = ?", u.Name, sameTick.Collection, sameTick.ID)
		add("UPDATE "+w+" SET predecessorid = 4243 WHERE username = ? AND collection = ? AND id = ?", u.Name, predOnly.Collection, predOnly.ID)
		add("UPDATE "+us+" SET md5 = '0123456789abcdef0123456789abcdef' WHERE username = ?", u.Name)
	case legacytest.Mozilla:
		w := e.layout.WboTable(u.ID)
		add("INSERT INTO "+w+" (username, collection, id, modified, payload, payload_size) VALUES (?, 9, 'during-bulk', ?, '{\"new\":1}', 9)", u.ID, ts)
		add("UPDATE "+w+" SET payload = '{\"changed\":1}', payload_size = 13, modified = ? WHERE username = ? AND collection = ? AND id = ?", ts, u.ID, u.PHPCollectionID(upd.Collection), upd.ID)
		add("UPDATE "+w+" SET sortindex = 4242 WHERE username = ? AND collection = ? AND id = ?", u.ID, u.PHPCollectionID(sortOnly.Collection), sortOnly.ID)
		add("DELETE FROM "+w+" WHERE username = ? AND collection = ? AND id = ?", u.ID, u.PHPCollectionID(del.Collection), del.ID)
		add("UPDATE "+w+" SET payload = "+sameLength+" WHERE username = ? AND collection = ? AND id = ?", u.ID, u.PHPCollectionID(sameTick.Collection), sameTick.ID)
		add("UPDATE "+w+" SET predecessorid = 'pred-4243' WHERE username = ? AND collection = ? AND id = ?", u.ID, u.PHPCollectionID(predOnly.Collection), predOnly.ID)
		add("UPDATE users SET password_hash = '0123456789abcdef0123456789abcdef' WHERE id = ?", u.ID)
	}
	for i, q := range stmts {
		res, err := e.db.ExecContext(ctx, q, args[i]...)
		if err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			e.t.Fatalf("%s changed %d rows", q, n)
		}
	}
	return del.Collection + "/" + del.ID
}

// TestWritesDuringBulkCopy: everything written through the legacy path
// while the bulk copy ran is in the native store after the flip.
func TestWritesDuringBulkCopy(t *testing.T) {
	for _, l := range []legacytest.Layout{layouts[0], layouts[3]} {
		t.Run(l.String(), func(t *testing.T) {
			e := newEnv(t, l, smallSpec, openSQLite)
			u := e.users[0]
			var deleted string
			migrate.SetFault(e.m, func(step string) error {
				if step == migrate.StepMigrating {
					deleted = e.legacyWrites(u)
				}
				return nil
			})
			res, err := e.m.MigrateUser(testContext(t), u.Name)
			if err != nil {
				t.Fatal(err)
			}
			if res.DeltaWritten != 5 || res.DeltaDeleted != 1 {
				t.Errorf("delta wrote %d and deleted %d records, want 5 and 1", res.DeltaWritten, res.DeltaDeleted)
			}
			e.checkNativeEqualsLegacy(u.Name)
			nu, _ := e.native.LookupUser(context.Background(), u.Name)
			c, id, _ := strings.Cut(deleted, "/")
			if _, err := e.native.GetRecord(context.Background(), nu.ID, c, id); !errors.Is(err, syncstore.ErrNotFound) {
				t.Errorf("record deleted during the bulk copy is still native: %v", err)
			}
		})
	}
}

var errInjected = errors.New("injected fault")

// TestUserReplacedDuringBulkCopy: the delta scans the account the bulk
// copy read while the user row is read again beside it; an account
// deleted and registered again meanwhile (a new id) fails the user
// instead of verifying against the old account's rows.
func TestUserReplacedDuringBulkCopy(t *testing.T) {
	e := newEnv(t, layouts[2], smallSpec, openSQLite)
	u := e.users[0]
	migrate.SetFault(e.m, func(step string) error {
		if step == migrate.StepMigrating {
			if _, err := e.db.ExecContext(context.Background(), "UPDATE users SET id = id + 1000 WHERE id = ?", u.ID); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	res, err := e.m.MigrateUser(testContext(t), u.Name)
	if err == nil || res.Step != migrate.StepDelta || !strings.Contains(err.Error(), "was replaced") {
		t.Fatalf("migrating a user replaced during the bulk copy: %+v, %v", res, err)
	}
	if r := e.route(u.Name); r == nil || r.State != syncstore.RouteLegacy {
		t.Errorf("route after the failure: %+v, want legacy", r)
	}
}

// TestFaultAtEachStep: a failure at any step leaves the user served by
// legacy, the legacy data untouched and the reason recorded; the next run
// completes from the native copy left behind.
func TestFaultAtEachStep(t *testing.T) {
	e := newEnv(t, layouts[2], smallSpec, openSQLite)
	ctx := testContext(t)
	before := e.legacyDigests()
	steps := []string{migrate.StepLookup, migrate.StepBulk, migrate.StepMigrating, migrate.StepDelta, migrate.StepVerify, migrate.StepCache, migrate.StepFlip}
	for i, step := range steps {
		u := e.users[i%len(e.users)]
		migrate.SetFault(e.m, func(s string) error {
			if s == step {
				return errInjected
			}
			return nil
		})
		res, err := e.m.MigrateUser(ctx, u.Name)
		if !errors.Is(err, errInjected) || res.Action != migrate.ActionFailed || res.Step != step {
			t.Fatalf("fault at %s: %+v, %v", step, res, err)
		}
		r := e.route(u.Name)
		if step == migrate.StepLookup {
			if r != nil && r.State != syncstore.RouteLegacy {
				t.Errorf("fault at %s: route %+v", step, r)
			}
		} else if r == nil || r.State != syncstore.RouteLegacy || r.Owner != "" || !strings.Contains(r.LastError, "injected") {
			t.Errorf("fault at %s: route %+v, want legacy with the reason", step, r)
		}
		e.sameLegacy(before, "fault at "+step)
		if inWindow := step == migrate.StepDelta || step == migrate.StepVerify || step == migrate.StepCache || step == migrate.StepFlip; inWindow && res.Window <= 0 {
			t.Errorf("fault at %s: no unavailability window measured", step)
		}
		// Retry without the fault.
		migrate.SetFault(e.m, nil)
		res, err = e.m.MigrateUser(ctx, u.Name)
		if err != nil || res.Action != migrate.ActionMigrated {
			t.Fatalf("retry after fault at %s: %+v, %v", step, res, err)
		}
		if r := e.route(u.Name); r.State != syncstore.RouteNative || r.LastError != "" {
			t.Errorf("route after retry: %+v", r)
		}
		e.checkNative(u)
		// Put the user back for the next step.
		if _, err := e.m.RollbackUser(ctx, u.Name); err != nil {
			t.Fatal(err)
		}
	}
	e.sameLegacy(before, "after migrations and rollbacks")
}

// TestVerifyCatchesCorruption: a native copy that differs after the delta
// is not flipped.
func TestVerifyCatchesCorruption(t *testing.T) {
	e := newEnv(t, layouts[0], smallSpec, openSQLite)
	ctx := testContext(t)
	u := e.users[0]
	for _, corrupt := range []struct {
		name string
		rec  syncstore.StoredRecord
		coll string
	}{
		{"meta/global payload", syncstore.StoredRecord{ID: "global", Modified: syncstore.Timestamp(u.Records[0].Modified), Payload: ptr(`{"syncID":"other"}`), Expiry: syncstore.NoExpiry}, "meta"},
		{"extra record", syncstore.StoredRecord{ID: "intruder", Modified: 1, Expiry: syncstore.NoExpiry}, "history"},
	} {
		migrate.SetFault(e.m, func(s string) error {
			if s == migrate.StepVerify {
				nu, _ := e.native.LookupUser(ctx, u.Name)
				return e.native.ReplaceRecords(ctx, nu.ID, corrupt.coll, []syncstore.StoredRecord{corrupt.rec})
			}
			return nil
		})
		res, err := e.m.MigrateUser(ctx, u.Name)
		var ve *migrate.VerifyError
		if !errors.As(err, &ve) || res.Step != migrate.StepVerify {
			t.Fatalf("%s: %+v, %v", corrupt.name, res, err)
		}
		if r := e.route(u.Name); r.State != syncstore.RouteLegacy || !strings.Contains(r.LastError, "verifying") {
			t.Errorf("%s: route %+v", corrupt.name, r)
		}
	}
	// The next run repairs the copy.
	migrate.SetFault(e.m, nil)
	if res, err := e.m.MigrateUser(ctx, u.Name); err != nil || res.Action != migrate.ActionMigrated {
		t.Fatalf("repair: %+v, %v", res, err)
	}
	e.checkNative(u)
}

func ptr[T any](v T) *T { return &v }

// TestKilledMidWindow: a run that dies while the user is migrating leaves
// a lease that blocks other runs until it expires; then the next run puts
// the user back to legacy and migrates it.
func TestKilledMidWindow(t *testing.T) {
	e := newEnv(t, layouts[1], smallSpec, openSQLite)
	ctx := testContext(t)
	u := e.users[1]
	migrate.SetFault(e.m, func(s string) error {
		if s == migrate.StepDelta {
			return migrate.ErrKilled
		}
		return nil
	})
	if _, err := e.m.MigrateUser(ctx, u.Name); !errors.Is(err, migrate.ErrKilled) {
		t.Fatal(err)
	}
	r := e.route(u.Name)
	if r.State != syncstore.RouteMigrating || r.Owner != e.m.Owner() {
		t.Fatalf("after kill: %+v", r)
	}
	m2 := e.migrator(migrate.Config{})
	if _, err := m2.MigrateUser(ctx, u.Name); !errors.Is(err, migrate.ErrBusy) {
		t.Fatalf("second run during the lease: %v", err)
	}
	if n, err := m2.RecoverStale(ctx); err != nil || n != 0 {
		t.Fatalf("RecoverStale with a live lease: %d, %v", n, err)
	}
	e.clock.advance(11 * time.Second)
	if got := e.route(u.Name).Effective(e.clock.now()); got != syncstore.RouteLegacy {
		t.Errorf("an expired migrating lease is served as %s, want legacy", got)
	}
	if n, err := m2.RecoverStale(ctx); err != nil || n != 1 {
		t.Fatalf("RecoverStale: %d, %v", n, err)
	}
	if r := e.route(u.Name); r.State != syncstore.RouteLegacy || r.Owner != "" || !strings.Contains(r.LastError, "expired") {
		t.Errorf("after recovery: %+v", r)
	}
	if res, err := m2.MigrateUser(ctx, u.Name); err != nil || res.Action != migrate.ActionMigrated {
		t.Fatalf("migration after recovery: %+v, %v", res, err)
	}
	e.checkNative(u)
}

// TestKilledDuringBulk: a run that dies during the bulk copy holds the
// user (still legacy) until its lease expires; the next run takes over.
func TestKilledDuringBulk(t *testing.T) {
	e := newEnv(t, layouts[3], smallSpec, openSQLite)
	ctx := testContext(t)
	u := e.users[0]
	migrate.SetFault(e.m, func(s string) error {
		if s == migrate.StepMigrating {
			return migrate.ErrKilled
		}
		return nil
	})
	if _, err := e.m.MigrateUser(ctx, u.Name); !errors.Is(err, migrate.ErrKilled) {
		t.Fatal(err)
	}
	if r := e.route(u.Name); r.State != syncstore.RouteLegacy || r.Owner == "" {
		t.Fatalf("after kill: %+v", r)
	}
	m2 := e.migrator(migrate.Config{})
	e.clock.advance(11 * time.Second)
	res, err := m2.MigrateUser(ctx, u.Name)
	if err != nil || res.Action != migrate.ActionMigrated {
		t.Fatalf("%+v, %v", res, err)
	}
	if res.Written != 0 {
		t.Errorf("the retry rewrote %d records that the killed run had copied", res.Written)
	}
	e.checkNative(u)
}

// TestNewCollectionDuringCopy: a custom collection created on the Mozilla
// PHP server after the user was loaded is still copied.
func TestNewCollectionDuringCopy(t *testing.T) {
	e := newEnv(t, layouts[3], smallSpec, openSQLite)
	u := e.users[1]
	migrate.SetFault(e.m, func(s string) error {
		if s != migrate.StepBulk {
			return nil
		}
		for _, q := range []string{
			"INSERT INTO collections (userid, collectionid, name) VALUES (?, 150, 'latecomer')",
			"INSERT INTO " + e.layout.WboTable(u.ID) + " (username, collection, id, modified, payload, payload_size) VALUES (?, 150, 'x', 130000000000, 'late', 4)",
		} {
			if _, err := e.db.Exec(q, u.ID); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if _, err := e.m.MigrateUser(testContext(t), u.Name); err != nil {
		t.Fatal(err)
	}
	e.checkNativeEqualsLegacy(u.Name)
	nu, _ := e.native.LookupUser(context.Background(), u.Name)
	if _, err := e.native.GetRecord(context.Background(), nu.ID, "latecomer", "x"); err != nil {
		t.Errorf("record of the late collection: %v", err)
	}
}
