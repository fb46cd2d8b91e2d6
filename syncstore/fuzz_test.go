package syncstore

import (
	"encoding/json"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// canonicalDecimal is decimal text whose exact centisecond value the test
// can compute without floats: at most 13 integer digits (≈ 300,000 years)
// keep float64 rounding exact, at most 2 decimals need no rounding.
var canonicalDecimal = regexp.MustCompile(`^(-?)([0-9]{1,13})(?:\.([0-9]{1,2}))?$`)

// timestampText is what Timestamp.String must always produce.
var timestampText = regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`)

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{
		"1300000000", "1300000000.5", "1278109839.90", "1.3e9", "-1.05", "0.07", "0.005", "0.015",
		"", "abc", "NaN", "Inf", "-Infinity", "1e300", "0x10", "0x1p4", "9e15", "9000000000000001",
		" 1", "1 ", "+1.25", ".5", "5.", "1_000", "1300000000.999", "00012.30",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseTimestamp(s)
		if m := canonicalDecimal.FindStringSubmatch(s); m != nil {
			whole, _ := strconv.ParseInt(m[2], 10, 64)
			frac := int64(0)
			if m[3] != "" {
				frac, _ = strconv.ParseInt((m[3] + "0")[:2], 10, 64)
			}
			want := Timestamp(whole*100 + frac)
			if m[1] == "-" {
				want = -want
			}
			if err != nil || ts != want {
				t.Fatalf("ParseTimestamp(%q) = %d, %v; want %d", s, ts, err, want)
			}
		}
		if err != nil {
			if ts != 0 {
				t.Fatalf("ParseTimestamp(%q) failed but returned %d", s, ts)
			}
			return
		}
		if int64(ts) > 9e17 || int64(ts) < -9e17 {
			t.Fatalf("ParseTimestamp(%q) = %d: outside the accepted range", s, ts)
		}
		text := ts.String()
		if !timestampText.MatchString(text) {
			t.Fatalf("ParseTimestamp(%q) = %d formats as %q", s, ts, text)
		}
		if j, _ := ts.MarshalJSON(); !json.Valid(j) || string(j) != text {
			t.Fatalf("%d: JSON %q, text %q", ts, j, text)
		}
		// Whatever the server accepted it must be able to send back and read
		// again as the same value (clients echo timestamps in newer= and
		// X-If-Unmodified-Since). Beyond 2^53 centiseconds floats cannot
		// hold every value; those are 2.8 million years away.
		if math.Abs(float64(ts)) < 1<<53 {
			back, err := ParseTimestamp(text)
			if err != nil || back != ts {
				t.Fatalf("ParseTimestamp(%q) = %d, formats as %q, which parses as %d, %v", s, ts, text, back, err)
			}
		}
	})
}

// nameRE and idRE restate docs/protocol.md §2.2 independently of names.go.
var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
	idRE   = regexp.MustCompile(`^[\x20-\x2b\x2d\x2e\x30-\x7e]{1,64}$`)
)

func FuzzValidNames(f *testing.F) {
	for _, s := range []string{
		"alice", "7qrzrjz52vgwen6e7w2y7v6xknd46wxt", "Alice.B_c-d", strings.Repeat("a", 32), strings.Repeat("a", 33),
		"bookmarks", "a b", "a/b", "a,b", "{6820f3ca-6e8a-4ff4-8af7-8b3625d7d650}", "é", "\x00", "\x7f", "~",
		strings.Repeat("i", 64), strings.Repeat("i", 65), "' OR 1=1 --", "%2F", "..", ".",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		user, coll, id := ValidUsername(s), ValidCollection(s), ValidID(s)
		if want := nameRE.MatchString(s); user != want || coll != want {
			t.Fatalf("%q: ValidUsername %v, ValidCollection %v, want %v", s, user, coll, want)
		}
		if want := idRE.MatchString(s); id != want {
			t.Fatalf("%q: ValidID %v, want %v", s, id, want)
		}
		if user && !id {
			t.Fatalf("%q: a valid username must also be a valid id", s)
		}
		n := NormalizeUsername(s)
		if NormalizeUsername(n) != n {
			t.Fatalf("NormalizeUsername is not idempotent on %q", s)
		}
		if user && (!ValidUsername(n) || len(n) != len(s) || !strings.EqualFold(n, s)) {
			t.Fatalf("%q normalizes to %q, which is not the same valid name", s, n)
		}
		if id {
			// An id travels in a URL segment and in the ids= list.
			if back, err := url.PathUnescape(url.PathEscape(s)); err != nil || back != s {
				t.Fatalf("id %q does not survive a URL path segment: %q, %v", s, back, err)
			}
			list := strings.Join([]string{s, s}, ",")
			if parts := strings.Split(list, ","); len(parts) != 2 || parts[0] != s {
				t.Fatalf("id %q does not survive the ids= list", s)
			}
			if q, err := url.ParseQuery("ids=" + url.QueryEscape(s)); err != nil || q.Get("ids") != s {
				t.Fatalf("id %q does not survive a query string: %v", s, err)
			}
		}
		if cid, ok := StandardCollectionID(s); ok {
			if name, ok := StandardCollectionName(cid); !ok || name != s || cid >= FirstCustomCollectionID || !coll {
				t.Fatalf("standard collection %q ↔ id %d does not round-trip", s, cid)
			}
		}
	})
}
