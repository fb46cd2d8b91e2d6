package migrate

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
)

// FuzzLegacyColumns feeds the legacy column scanners what the driver can
// hand them (text-protocol bytes, int64, float64, NULL): a value that
// scans must read back as the same value after the conversions the copy
// and the rollback make.
func FuzzLegacyColumns(f *testing.F) {
	for _, s := range []struct {
		text string
		n    int64
		x    float64
	}{
		{"0", 0, 0}, {"-12", -12, 1300000000.29}, {"9223372036854775807", math.MaxInt64, 1278109839.9},
		{"9223372036854775808", math.MinInt64, -0.005}, {" 1", 1, 0.015}, {"1.5", 2, 1e300}, {"", 3, math.Inf(1)},
		{"0x10", 16, math.NaN()}, {"1e3", 1000, 4503599627370495.5}, {"\xff\x00", 7, 1300000000.005},
	} {
		f.Add([]byte(s.text), s.n, s.x)
	}
	f.Fuzz(func(t *testing.T, text []byte, n int64, x float64) {
		var s nullStr
		if err := s.Scan(text); err != nil || s.P == nil || *s.P != string(text) {
			t.Fatalf("nullStr.Scan(%q) = %v, %v", text, s.P, err)
		}
		if len(text) > 0 {
			orig := string(text)
			text[0] ^= 0xff // the driver reuses its buffer for the next row
			if *s.P != orig {
				t.Fatalf("nullStr kept a reference to the driver's buffer")
			}
			text[0] ^= 0xff
		}
		if err := s.Scan(nil); err != nil || s.P != nil || s.String() != "" {
			t.Fatalf("nullStr.Scan(nil) = %v, %v", s.P, err)
		}

		var i nullInt
		want, perr := strconv.ParseInt(string(text), 10, 64)
		err := i.Scan(text)
		if (err == nil) != (perr == nil) || (err == nil && *i.p != want) {
			t.Fatalf("nullInt.Scan(%q) = %v, %v; strconv says %d, %v", text, i.p, err, want, perr)
		}
		if err := i.Scan(n); err != nil || *i.p != n {
			t.Fatalf("nullInt.Scan(%d) = %v, %v", n, i.p, err)
		}
		// predecessorid: FSyncMS's INT column → decimal text → back.
		dec := i.decimal()
		var again nullInt
		if err := again.Scan([]byte(*dec)); err != nil || *again.p != n {
			t.Fatalf("%d → %q → %v, %v", n, *dec, again.p, err)
		}
		if v, err := fsyncmsPredecessor(dec); (err == nil) != (n >= math.MinInt32 && n <= math.MaxInt32) || (err == nil && v != n) {
			t.Fatalf("fsyncmsPredecessor(%q) = %v, %v", *dec, v, err)
		}

		var fl nullFloat
		wantF, perr := strconv.ParseFloat(string(text), 64)
		err = fl.Scan(text)
		if (err == nil) != (perr == nil) || (err == nil && !sameFloat(*fl.p, wantF)) {
			t.Fatalf("nullFloat.Scan(%q) = %v, %v; strconv says %v, %v", text, fl.p, err, wantF, perr)
		}
		if err := fl.Scan(x); err != nil || !sameFloat(*fl.p, x) {
			t.Fatalf("nullFloat.Scan(%v) = %v, %v", x, fl.p, err)
		}
		if err := fl.Scan(n); err != nil || *fl.p != float64(n) {
			t.Fatalf("nullFloat.Scan(int64 %d) = %v, %v", n, fl.p, err)
		}
	})
}

func sameFloat(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

// FuzzFSyncMSTimestamp: FSyncMS keeps modified as DOUBLE seconds. A
// native timestamp written back on rollback must read back to the same
// centisecond, whether MariaDB returns the double in binary or as its
// shortest text; and any double a legacy server wrote reads as the
// nearest centisecond.
func FuzzFSyncMSTimestamp(f *testing.F) {
	for _, n := range []int64{0, 1, 130000000029, 127810983990, -105, 1 << 52, 1<<53 - 1, 99999999999999} {
		f.Add(n, float64(n)/100)
	}
	f.Add(int64(5), 1300000000.005)
	f.Add(int64(-1), 0.015)
	if got := secondsToTimestamp(nil); got != 0 {
		f.Fatalf("NULL modified read as %d", got)
	}
	f.Fuzz(func(t *testing.T, cs int64, seconds float64) {
		// Centiseconds up to 2^53 / 100 keep every conversion exact enough:
		// that is 900,000 years, far past any real timestamp.
		if cs > -(1<<53)/100 && cs < (1<<53)/100 {
			ts := syncstore.Timestamp(cs)
			d := timestampToSeconds(ts)
			if got := secondsToTimestamp(&d); got != ts {
				t.Fatalf("%d → %v s → %d", ts, d, got)
			}
			var fl nullFloat
			if err := fl.Scan([]byte(strconv.FormatFloat(d, 'g', -1, 64))); err != nil || secondsToTimestamp(fl.p) != ts {
				t.Fatalf("%d → %q → %v, %v", ts, strconv.FormatFloat(d, 'g', -1, 64), fl.p, err)
			}
		}
		if math.IsNaN(seconds) || math.IsInf(seconds, 0) || math.Abs(seconds) > 1e13 {
			return
		}
		got := secondsToTimestamp(&seconds)
		if diff := math.Abs(float64(got)/100 - seconds); diff > 0.005+math.Abs(seconds)*1e-15+1e-9 { // the last term: float error of the check itself
			t.Fatalf("%v s read as %d (off by %v s)", seconds, got, diff)
		}
	})
}

func FuzzSHA2Hex(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("0", 64), strings.Repeat("aB", 32), strings.Repeat("g", 64), strings.Repeat("a", 63), "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := sha2Hex(nullStr{P: &s})
		_, herr := hex.DecodeString(s)
		valid := len(s) == 64 && herr == nil
		if (err == nil) != valid {
			t.Fatalf("sha2Hex(%q) = %v, %v; want valid=%v", s, d, err, valid)
		}
		if valid && hex.EncodeToString(d[:]) != strings.ToLower(s) {
			t.Fatalf("sha2Hex(%q) = %x", s, d[:])
		}
	})
}

// legacyRecord is a fuzzed record; the flags say which optional fields
// are present.
type legacyRecord struct {
	collection string
	rec        syncstore.StoredRecord
}

func makeRecord(coll, id, parent, pred, payload string, modified, sortIndex int64, flags uint8) legacyRecord {
	r := legacyRecord{collection: coll, rec: syncstore.StoredRecord{ID: id, Modified: syncstore.Timestamp(modified), Expiry: syncstore.NoExpiry}}
	if flags&1 != 0 {
		r.rec.SortIndex = &sortIndex
	}
	if flags&2 != 0 {
		r.rec.ParentID = &parent
	}
	if flags&4 != 0 {
		r.rec.PredecessorID = &pred
	}
	if flags&8 != 0 {
		r.rec.Payload = &payload
	}
	return r
}

// FuzzRecordDigest: the copy and the verification trust that two records
// have equal digests exactly when every field is equal, and that the
// digest from the database's SHA2() of the payload equals the one
// computed from the payload itself.
func FuzzRecordDigest(f *testing.F) {
	f.Add("bookmarks", "abc", "p", "q", "payload", int64(130000000000), int64(5), uint8(15), uint8(0), "bookmark", int64(1))
	f.Add("ab", "c", "", "", "", int64(0), int64(0), uint8(0), uint8(11), "", int64(0))
	f.Add("a", "b", "pp", "q", "x", int64(-1), int64(-1), uint8(6), uint8(12), "", int64(0))
	f.Add("a", "b", "", "", "", int64(7), int64(0), uint8(9), uint8(9), "", int64(0))
	f.Fuzz(func(t *testing.T, coll, id, parent, pred, payload string, modified, sortIndex int64, flags, which uint8, alt string, altN int64) {
		a := makeRecord(coll, id, parent, pred, payload, modified, sortIndex, flags)
		b := makeRecord(coll, id, parent, pred, payload, modified, sortIndex, flags)
		switch which % 13 {
		case 0:
			b.collection = alt
		case 1:
			b.rec.ID = alt
		case 2:
			b.rec.Modified = syncstore.Timestamp(altN)
		case 3:
			b = makeRecord(coll, id, parent, pred, payload, modified, altN, flags)
		case 4, 5, 6, 7:
			b = makeRecord(coll, id, parent, pred, payload, modified, sortIndex, flags^(1<<(which%13-4)))
		case 8:
			b = makeRecord(coll, id, alt, pred, payload, modified, sortIndex, flags)
		case 9:
			b = makeRecord(coll, id, parent, alt, payload, modified, sortIndex, flags)
		case 10:
			b = makeRecord(coll, id, parent, pred, alt, modified, sortIndex, flags)
		case 11: // the same bytes split differently between two fields
			if coll != "" {
				b.collection, b.rec.ID = coll[:len(coll)-1], coll[len(coll)-1:]+id
			}
		case 12:
			b = makeRecord(coll, id, parent+pred, "", payload, modified, sortIndex, flags)
		}
		d := newDigester()
		da := d.full(a.collection, &a.rec)
		db := d.full(b.collection, &b.rec)
		if equal := reflect.DeepEqual(a, b); (da.Sum == db.Sum) != equal {
			t.Fatalf("records %+v and %+v (equal=%v) have digests equal=%v", a, b, equal, da.Sum == db.Sum)
		}
		viaSQL := d.record(a.collection, a.rec.ID, a.rec.Modified, a.rec.SortIndex, a.rec.ParentID, a.rec.PredecessorID, payloadSum(a.rec.Payload))
		if viaSQL != da.Sum || da.Size != a.rec.PayloadSize() || da.ID != a.rec.ID || da.Modified != a.rec.Modified {
			t.Fatalf("%+v: digest %+v, from SHA2 %x", a, da, viaSQL)
		}
	})
}

// FuzzCheckImportable: a legacy record the migration accepts must be
// served to clients unchanged, i.e. its JSON form must carry exactly its
// values.
func FuzzCheckImportable(f *testing.F) {
	f.Add("bookmarks", "abc", "p", "q", "{\"ciphertext\":\"x\"}", int64(130000000000), int64(5), uint8(15))
	f.Add("bad name", "a/b", "\xff", "", "caf\xe9", int64(0), int64(0), uint8(14))
	f.Add("c", "{6820f3ca}", strings.Repeat("p", 65), "", "", int64(1), int64(-1), uint8(2))
	f.Add("c", "id", "", "4", "\u2028<&>\x01", int64(1), int64(1e12), uint8(13))
	f.Fuzz(func(t *testing.T, coll, id, parent, pred, payload string, modified, sortIndex int64, flags uint8) {
		r := makeRecord(coll, id, parent, pred, payload, modified, sortIndex, flags)
		if err := checkImportable(Schema{PayloadCharset: "utf8mb4"}, r.collection, &r.rec); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if !syncstore.ValidCollection(coll) || !syncstore.ValidID(id) {
			t.Fatalf("accepted collection %q id %q", coll, id)
		}
		w := syncstore.WBO{ID: id, Modified: r.rec.Modified, SortIndex: r.rec.SortIndex, Payload: r.rec.Payload,
			ParentID: r.rec.ParentID, PredecessorID: r.rec.PredecessorID}
		out := w.AppendJSON(nil)
		var got struct {
			ID            string
			SortIndex     *json.Number
			Payload       *string
			ParentID      *string
			PredecessorID *string
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%+v served as invalid JSON %s: %v", r, out, err)
		}
		if got.ID != id || !reflect.DeepEqual(got.Payload, r.rec.Payload) || !reflect.DeepEqual(got.ParentID, r.rec.ParentID) ||
			!reflect.DeepEqual(got.PredecessorID, r.rec.PredecessorID) {
			t.Fatalf("%+v served as %s", r, out)
		}
		if (got.SortIndex == nil) != (r.rec.SortIndex == nil) || (got.SortIndex != nil && got.SortIndex.String() != strconv.FormatInt(sortIndex, 10)) {
			t.Fatalf("sortindex %v served as %v", r.rec.SortIndex, got.SortIndex)
		}
	})
}

// legacyTarget is one legacy schema in its own hrd_ database.
type legacyTarget struct {
	name string
	db   *LegacyDB
	user *LegacyUser
}

// FuzzLegacyRoundTrip writes a record a native store can hold into a
// real legacy database, as the rollback does, and reads it back as the
// migration does: FSyncMS (utf8mb4 and latin1 tables) and Mozilla PHP.
// A record is refused with an error or read back exactly, and its digest
// from the database's SHA2() matches the one computed from the record.
func FuzzLegacyRoundTrip(f *testing.F) {
	f.Add("bookmarks", "abc", "p", "12", "{\"ciphertext\":\"x\"}", int64(130000000029), int64(5), uint8(15))
	f.Add("custom.coll-1", "{6820f3ca-6e8a}", "\u00e9\u00e8", "-7", "caf\u00e9 \u2028 \U0001F600", int64(127810983990), int64(-999999999), uint8(15))
	f.Add("c", "id with space ", " ", "not-a-number", "", int64(1), int64(0), uint8(14))
	f.Add("history", "a", "", "", "\x00\\'\"", int64(99999999999), int64(999999999), uint8(9))
	f.Add("tabs", "x", "p", "2147483648", "p", int64(0), int64(0), uint8(4))
	ctx := context.Background()
	var targets []*legacyTarget
	for _, c := range []struct {
		name, charset string
		layout        legacytest.Layout
	}{
		{"fsyncms", "", legacytest.Layout{Variant: legacytest.FSyncMS}},
		{"fsyncms latin1", "latin1", legacytest.Layout{Variant: legacytest.FSyncMS}},
		{"mozilla", "", legacytest.Layout{Variant: legacytest.Mozilla}},
	} {
		name, db := legacytest.NewDatabase(f, "hrd_", c.charset)
		if err := legacytest.CreateSchema(ctx, db, c.layout); err != nil {
			f.Fatal(err)
		}
		lg, err := OpenLegacy(ctx, legacytest.DSN(f, name), LegacyOptions{})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { lg.Close() })
		targets = append(targets, &legacyTarget{name: c.name, db: lg, user: &LegacyUser{Name: "fuzzuser", PasswordHash: "0123456789abcdef"}})
	}
	f.Fuzz(func(t *testing.T, coll, id, parent, pred, payload string, modified, sortIndex int64, flags uint8) {
		r := makeRecord(coll, id, parent, pred, payload, modified, sortIndex, flags)
		// Only what the native store can hold reaches a rollback.
		if !syncstore.ValidCollection(coll) || !syncstore.ValidID(id) || modified < 0 || modified > 1e12 ||
			sortIndex < -syncstore.MaxSortIndex || sortIndex > syncstore.MaxSortIndex ||
			!utf8.ValidString(parent) || !utf8.ValidString(pred) || !utf8.ValidString(payload) ||
			len(parent) > syncstore.MaxIDLen || len(pred) > syncstore.MaxIDLen {
			return
		}
		for _, tg := range targets {
			err := tg.db.ReplaceUser(ctx, tg.user, func(emit func(string, *syncstore.StoredRecord) error) error {
				return emit(r.collection, &r.rec)
			})
			if err != nil {
				// FSyncMS keeps predecessorid in an INT column; that is the
				// one refusal a valid native record may meet.
				if _, perr := fsyncmsPredecessor(r.rec.PredecessorID); tg.db.Schema().Variant == VariantFSyncMS && perr != nil {
					continue
				}
				t.Fatalf("%s: writing %+v: %v", tg.name, r, err)
			}
			var got []legacyRecord
			if err := tg.db.Records(ctx, tg.user, func(c string, rec *syncstore.StoredRecord) error {
				got = append(got, legacyRecord{collection: c, rec: *rec})
				return nil
			}); err != nil {
				t.Fatalf("%s: reading back: %v", tg.name, err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], r) {
				t.Fatalf("%s: wrote %s, read back %s", tg.name, describeRecords([]legacyRecord{r}), describeRecords(got))
			}
			want := newDigester().full(coll, &r.rec)
			var digests []RecordDigest
			if err := tg.db.Digests(ctx, tg.user, func(c string, d RecordDigest) error {
				digests = append(digests, d)
				return nil
			}); err != nil {
				t.Fatalf("%s: digests: %v", tg.name, err)
			}
			if len(digests) != 1 || digests[0] != want {
				t.Fatalf("%s: database digest %+v, computed %+v", tg.name, digests, want)
			}
			wantFP := recordFingerprint(&r.rec)
			var fps []fingerprint
			if err := tg.db.fingerprints(ctx, tg.user, func(c, id string, fp fingerprint) error {
				fps = append(fps, fp)
				return nil
			}); err != nil {
				t.Fatalf("%s: fingerprints: %v", tg.name, err)
			}
			if len(fps) != 1 || fps[0] != wantFP {
				t.Fatalf("%s: database fingerprint differs from the one computed from the record read back", tg.name)
			}
		}
	})
}

func describeRecords(rs []legacyRecord) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "{%q %q mod=%d", r.collection, r.rec.ID, r.rec.Modified)
		for _, f := range []struct {
			name string
			v    *string
		}{{"parent", r.rec.ParentID}, {"pred", r.rec.PredecessorID}, {"payload", r.rec.Payload}} {
			if f.v != nil {
				fmt.Fprintf(&b, " %s=%q", f.name, *f.v)
			}
		}
		if r.rec.SortIndex != nil {
			fmt.Fprintf(&b, " sortindex=%d", *r.rec.SortIndex)
		}
		b.WriteString("}")
	}
	return b.String()
}
