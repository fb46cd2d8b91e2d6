package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

var layouts = []legacytest.Layout{
	{Variant: legacytest.FSyncMS},
	{Variant: legacytest.FSyncMS, Prefix: "weave"},
	{Variant: legacytest.Mozilla},
	{Variant: legacytest.Mozilla, Shards: 4},
}

// fixture is a filled legacy database.
type fixture struct {
	layout legacytest.Layout
	name   string
	db     *sql.DB
	users  []legacytest.User
	legacy *LegacyDB
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func newFixture(t testing.TB, l legacytest.Layout, spec legacytest.Spec) *fixture {
	t.Helper()
	ctx := testContext(t)
	name, db := legacytest.NewDatabase(t, "mig_", "")
	if err := legacytest.CreateSchema(ctx, db, l); err != nil {
		t.Fatal(err)
	}
	users := legacytest.Generate(uint64(len(l.String())), l, spec)
	if err := legacytest.Insert(ctx, db, l, users); err != nil {
		t.Fatal(err)
	}
	lg, err := OpenLegacy(ctx, legacytest.DSN(t, name), LegacyOptions{})
	if err != nil {
		t.Fatalf("OpenLegacy: %v", err)
	}
	t.Cleanup(func() { lg.Close() })
	return &fixture{layout: l, name: name, db: db, users: users, legacy: lg}
}

var standardSpec = legacytest.Spec{Users: 3, Records: []int{6000, 300, 40}, BigPayloads: 3}

func wantRecord(r legacytest.Record) syncstore.StoredRecord {
	return syncstore.StoredRecord{ID: r.ID, Modified: syncstore.Timestamp(r.Modified), SortIndex: r.SortIndex, ParentID: r.ParentID,
		PredecessorID: r.PredecessorID, Payload: r.Payload, Expiry: syncstore.NoExpiry}
}

func sameStr(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func sameInt(a, b *int64) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func recordDiff(want, got *syncstore.StoredRecord) string {
	var d []string
	if want.ID != got.ID {
		d = append(d, "id")
	}
	if want.Modified != got.Modified {
		d = append(d, "modified "+want.Modified.String()+" vs "+got.Modified.String())
	}
	if !sameInt(want.SortIndex, got.SortIndex) {
		d = append(d, "sortindex")
	}
	if !sameStr(want.ParentID, got.ParentID) {
		d = append(d, "parentid")
	}
	if !sameStr(want.PredecessorID, got.PredecessorID) {
		d = append(d, "predecessorid")
	}
	if !sameStr(want.Payload, got.Payload) {
		d = append(d, "payload")
	}
	if want.Expiry != got.Expiry {
		d = append(d, "expiry")
	}
	return strings.Join(d, ", ")
}

// checkUserRead reads one legacy user back and compares every value.
func checkUserRead(t *testing.T, ctx context.Context, lg *LegacyDB, l legacytest.Layout, want legacytest.User) {
	t.Helper()
	// Lookups are case-insensitive, as the PHP servers' _ci collations.
	u, err := lg.LookupUser(ctx, syncstore.NormalizeUsername(want.Name))
	if err != nil {
		t.Fatalf("LookupUser(%q): %v", want.Name, err)
	}
	if u.Name != want.Name || u.PasswordHash != want.PasswordHash || u.ID != want.ID || !sameStr(u.Email, want.Email) ||
		!sameInt(u.Status, want.Status) || !sameStr(u.Alert, want.Alert) || !sameStr(u.Reset, want.Reset) {
		t.Errorf("user %q read as %+v", want.Name, u)
	}
	if l.Variant == legacytest.Mozilla && len(u.Collections) != len(want.Collections) {
		t.Errorf("user %q collections %v, want %v", want.Name, u.Collections, want.Collections)
	}
	for n, id := range want.Collections {
		if u.Collections[n] != id {
			t.Errorf("user %q collection %q id %d, want %d", want.Name, n, u.Collections[n], id)
		}
	}

	wantRecs := map[string]syncstore.StoredRecord{}
	for _, r := range want.Records {
		wantRecs[r.Collection+"/"+r.ID] = wantRecord(r)
	}
	got := 0
	digests := map[string]RecordDigest{}
	fingerprints := map[string]fingerprint{}
	d := newDigester()
	err = lg.Records(ctx, u, func(c string, r *syncstore.StoredRecord) error {
		got++
		w, ok := wantRecs[c+"/"+r.ID]
		if !ok {
			t.Errorf("unexpected record %s/%s", c, r.ID)
			return nil
		}
		if diff := recordDiff(&w, r); diff != "" {
			t.Errorf("record %s/%s differs: %s", c, r.ID, diff)
		}
		digests[c+"/"+r.ID] = d.full(c, r)
		fingerprints[c+"/"+r.ID] = recordFingerprint(r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != len(want.Records) {
		t.Errorf("user %q: read %d records, want %d", want.Name, got, len(want.Records))
	}
	// The database's SHA2() digests agree with digests of the records read.
	n := 0
	err = lg.Digests(ctx, u, func(c string, rd RecordDigest) error {
		n++
		if digests[c+"/"+rd.ID] != rd {
			t.Errorf("digest of %s/%s from SQL differs from the digest of the record read", c, rd.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want.Records) {
		t.Errorf("user %q: %d digests, want %d", want.Name, n, len(want.Records))
	}
	// The database's LENGTH() and CRC32() agree with the payloads read,
	// so the delta copy finds an unchanged record unchanged.
	n = 0
	err = lg.fingerprints(ctx, u, func(c, id string, fp fingerprint) error {
		n++
		if fingerprints[c+"/"+id] != fp {
			t.Errorf("fingerprint of %s/%s from SQL differs from the fingerprint of the record read", c, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(want.Records) {
		t.Errorf("user %q: %d fingerprints, want %d", want.Name, n, len(want.Records))
	}
}

func TestLegacyReadExact(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.String(), func(t *testing.T) {
			f := newFixture(t, l, standardSpec)
			ctx := testContext(t)
			s := f.legacy.Schema()
			if string(s.Variant) != l.Variant || s.Prefix != l.Prefix || s.Shards != l.Shards {
				t.Fatalf("detected %s (%+v), want %s", s, s, l)
			}
			for _, u := range f.users {
				checkUserRead(t, ctx, f.legacy, l, u)
			}
			var listed []string
			if err := f.legacy.Users(ctx, func(u *LegacyUser) error { listed = append(listed, u.Name); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(listed) != len(f.users) {
				t.Errorf("Users listed %v", listed)
			}
			if _, err := f.legacy.LookupUser(ctx, "nobody"); !errors.Is(err, ErrUnknownUser) {
				t.Errorf("LookupUser(nobody) = %v, want ErrUnknownUser", err)
			}
			// RecordsByID finds exactly the ids asked for.
			u, _ := f.legacy.LookupUser(ctx, f.users[0].Name)
			want := f.users[0].Records[2:5]
			var ids []string
			for _, r := range want {
				if r.Collection == want[0].Collection {
					ids = append(ids, r.ID)
				}
			}
			ids = append(ids, "no-such-id")
			var found []string
			if err := f.legacy.RecordsByID(ctx, u, want[0].Collection, ids, func(c string, r *syncstore.StoredRecord) error {
				found = append(found, r.ID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(found) != len(ids)-1 {
				t.Errorf("RecordsByID(%v) found %v", ids, found)
			}
		})
	}
}

// copyUser writes the user's records read from src into dst.
func copyUser(ctx context.Context, src, dst *LegacyDB, u *LegacyUser) error {
	return dst.ReplaceUser(ctx, u, func(emit func(string, *syncstore.StoredRecord) error) error {
		return src.Records(ctx, u, emit)
	})
}

func tableDigests(t *testing.T, ctx context.Context, db *sql.DB, l legacytest.Layout) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range l.Tables() {
		d, n, err := legacytest.TableDigest(ctx, db, table)
		if err != nil {
			t.Fatal(err)
		}
		sum, err := legacytest.Checksum(ctx, db, table)
		if err != nil {
			t.Fatal(err)
		}
		out[table] = fmt.Sprintf("%d rows, dump %s, CHECKSUM TABLE %d", n, d[:16], sum)
	}
	return out
}

// TestLegacyRoundTrip: legacy → records → legacy gives identical tables,
// compared by a full ordered dump and CHECKSUM TABLE.
func TestLegacyRoundTrip(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.String(), func(t *testing.T) {
			f := newFixture(t, l, standardSpec)
			ctx := testContext(t)
			_, db2 := legacytest.NewDatabase(t, "mig_", "")
			if err := legacytest.CreateSchema(ctx, db2, l); err != nil {
				t.Fatal(err)
			}
			dst, err := NewLegacyDB(ctx, db2, LegacyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			err = f.legacy.Users(ctx, func(u *LegacyUser) error { return copyUser(ctx, f.legacy, dst, u) })
			if err != nil {
				t.Fatal(err)
			}
			want := tableDigests(t, ctx, f.db, l)
			got := tableDigests(t, ctx, db2, l)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: copy %s, original %s", k, got[k], v)
				}
			}
			// Writing a user back over itself changes nothing.
			for _, lu := range f.users {
				u, err := f.legacy.LookupUser(ctx, lu.Name)
				if err != nil {
					t.Fatal(err)
				}
				var recs []struct {
					c string
					r *syncstore.StoredRecord
				}
				if err := f.legacy.Records(ctx, u, func(c string, r *syncstore.StoredRecord) error {
					recs = append(recs, struct {
						c string
						r *syncstore.StoredRecord
					}{c, r})
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if err := f.legacy.ReplaceUser(ctx, u, func(emit func(string, *syncstore.StoredRecord) error) error {
					for _, x := range recs {
						if err := emit(x.c, x.r); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			again := tableDigests(t, ctx, f.db, l)
			for k, v := range want {
				if again[k] != v {
					t.Errorf("%s after rewriting in place: %s, was %s", k, again[k], v)
				}
			}
		})
	}
}
