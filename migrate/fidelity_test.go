package migrate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate"
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
	if _, err := e.m.MigrateUser(ctx, u.Name); err != nil {
		t.Fatal(err)
	}
	nu, err := e.native.LookupUser(ctx, u.Name)
	if err != nil {
		t.Fatal(err)
	}
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
