package migrate

import (
	"errors"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

func TestDetectSchemaErrors(t *testing.T) {
	ctx := testContext(t)
	name, db := legacytest.NewDatabase(t, "mig_", "")
	if _, err := db.ExecContext(ctx, "CREATE TABLE unrelated (x INT)"); err != nil {
		t.Fatal(err)
	}
	_, err := NewLegacyDB(ctx, db, LegacyOptions{})
	if !errors.Is(err, ErrNoLegacyTables) || !strings.Contains(err.Error(), "unrelated") || !strings.Contains(err.Error(), name) {
		t.Fatalf("empty database: %v", err)
	}

	for _, l := range []legacytest.Layout{{Variant: legacytest.FSyncMS}, {Variant: legacytest.FSyncMS, Prefix: "pm"}} {
		if err := legacytest.CreateSchema(ctx, db, l); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := NewLegacyDB(ctx, db, LegacyOptions{}); err == nil || !strings.Contains(err.Error(), "--prefix") {
		t.Fatalf("two FSyncMS schemas: %v", err)
	}
	lg, err := NewLegacyDB(ctx, db, LegacyOptions{Prefix: "pm"})
	if err != nil {
		t.Fatal(err)
	}
	if s := lg.Schema(); s.Prefix != "pm" || s.Variant != VariantFSyncMS || s.PayloadMax != 65535 || !s.UsernameCI {
		t.Fatalf("schema %+v", s)
	}
	if _, err := NewLegacyDB(ctx, db, LegacyOptions{Variant: VariantMozilla}); !errors.Is(err, ErrNoLegacyTables) {
		t.Fatalf("forcing mozilla on FSyncMS tables: %v", err)
	}
	if _, err := NewLegacyDB(ctx, db, LegacyOptions{Prefix: "nope"}); !errors.Is(err, ErrNoLegacyTables) {
		t.Fatalf("unknown prefix: %v", err)
	}
}

func TestOpenLegacyErrors(t *testing.T) {
	ctx := testContext(t)
	if _, err := OpenLegacy(ctx, "root:s3cret@tcp(127.0.0.1:3306", LegacyOptions{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad DSN: %v", err)
	}
	if _, err := OpenLegacy(ctx, "root@tcp(127.0.0.1:3306)/", LegacyOptions{}); err == nil || !strings.Contains(err.Error(), "no database") {
		t.Errorf("DSN without database: %v", err)
	}
	if _, err := OpenLegacy(ctx, "root:s3cret@tcp(127.0.0.1:1)/x", LegacyOptions{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("unreachable server: %v", err)
	}
}

// TestLegacyLatin1 reads an old install whose tables are latin1 but hold
// the UTF-8 bytes PHP sent over a latin1 connection (docs/legacy.md §5): the
// bytes come back unchanged, not double-encoded, and write back exactly.
func TestLegacyLatin1(t *testing.T) {
	ctx := testContext(t)
	l := legacytest.Layout{Variant: legacytest.FSyncMS}
	_, db := legacytest.NewDatabase(t, "mig_", "latin1")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	text := `{"title":"Café – naïve ✓"}`
	users := []legacytest.User{{Name: "Zoë", PasswordHash: "5f4dcc3b5aa765d61d8327deb882cf99",
		Records: []legacytest.Record{{Collection: "bookmarks", ID: "abc", Modified: 130000000010, Payload: &text}}}}
	users[0].Name = "Zoe"
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	lg, err := NewLegacyDB(ctx, db, LegacyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lg.Schema().PayloadCharset != "latin1" {
		t.Fatalf("payload charset %q", lg.Schema().PayloadCharset)
	}
	before, _, err := legacytest.TableDigest(ctx, db, "wbo")
	if err != nil {
		t.Fatal(err)
	}
	u, err := lg.LookupUser(ctx, "zoe")
	if err != nil {
		t.Fatal(err)
	}
	var got []*syncstore.StoredRecord
	if err := lg.Records(ctx, u, func(c string, r *syncstore.StoredRecord) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Payload == nil || *got[0].Payload != text || got[0].Modified != syncstore.Timestamp(130000000010) {
		t.Fatalf("read %+v", got)
	}
	if err := lg.ReplaceUser(ctx, u, func(emit func(string, *syncstore.StoredRecord) error) error { return emit("bookmarks", got[0]) }); err != nil {
		t.Fatal(err)
	}
	after, _, err := legacytest.TableDigest(ctx, db, "wbo")
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Error("rewriting a latin1 table changed its bytes")
	}
}
