package storetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

func testPayloadRoundTrip(t *testing.T, e *env) {
	u := e.user(t, "alice")
	// The largest payload DecodeWBO accepts, made of multi-byte runes so a
	// store that counts characters instead of bytes is caught.
	big := strings.Repeat("é€😀x", syncstore.DefaultMaxPayload/10)
	big += strings.Repeat("y", syncstore.DefaultMaxPayload-len(big))
	payloads := map[string]string{
		"empty":   "",
		"unicode": "日本語 ünïcödé 😀 \u2028\u2029",
		"control": "nul\x00tab\tnewline\nquote\"backslash\\ del\x7f",
		"json":    `{"ciphertext":"abc==","IV":"def","hmac":"0123"}`,
		"big":     big,
	}
	if len(big) != syncstore.DefaultMaxPayload {
		t.Fatalf("test payload is %d bytes, want %d", len(big), syncstore.DefaultMaxPayload)
	}
	var recs []syncstore.WBO
	var total int64
	for id, p := range payloads {
		recs = append(recs, rec(id, p))
		total += int64(len(p))
	}
	res := e.put(t, u.ID, "history", recs...)
	if res.UsedBytes != total {
		t.Errorf("UsedBytes = %d, want %d (payload bytes)", res.UsedBytes, total)
	}
	for id, p := range payloads {
		w := e.get(t, u.ID, "history", id)
		if w.Payload == nil {
			t.Errorf("%s: payload came back absent", id)
			continue
		}
		if *w.Payload != p {
			t.Errorf("%s: payload of %d bytes came back as %d bytes, differing", id, len(p), len(*w.Payload))
		}
	}
	for _, w := range e.list(t, u.ID, "history", nil) {
		if w.Payload == nil || *w.Payload != payloads[w.ID] {
			t.Errorf("GetRecords: %s payload differs", w.ID)
		}
	}
	wantCounts(t, "usage", e.usage(t, u.ID), map[string]int64{"history": total})
	// A record without a payload stays without one (absent, not "").
	e.put(t, u.ID, "history", syncstore.WBO{ID: "nopayload", SortIndex: num(1)})
	if w := e.get(t, u.ID, "history", "nopayload"); w.Payload != nil {
		t.Errorf("record created without payload reads back with payload %q", *w.Payload)
	}
}

func testSortIndexExtremes(t *testing.T, e *env) {
	u := e.user(t, "alice")
	e.put(t, u.ID, "bookmarks",
		syncstore.WBO{ID: "max", Payload: str("x"), SortIndex: num(syncstore.MaxSortIndex)},
		syncstore.WBO{ID: "min", Payload: str("x"), SortIndex: num(-syncstore.MaxSortIndex)},
		syncstore.WBO{ID: "zero", Payload: str("x"), SortIndex: num(0)},
		syncstore.WBO{ID: "none", Payload: str("x")},
	)
	for id, want := range map[string]int64{"max": syncstore.MaxSortIndex, "min": -syncstore.MaxSortIndex, "zero": 0} {
		w := e.get(t, u.ID, "bookmarks", id)
		if w.SortIndex == nil || *w.SortIndex != want {
			t.Errorf("%s = %s, want sortindex %d", id, describe(w), want)
		}
	}
	if w := e.get(t, u.ID, "bookmarks", "none"); w.SortIndex != nil {
		t.Errorf("none = %s, want no sortindex", describe(w))
	}
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{Sort: syncstore.SortIndex}); !slices.Equal(got, []string{"max", "zero", "min", "none"}) {
		t.Errorf("sort=index = %v, want [max zero min none]", got)
	}
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{IndexAbove: floatPtr(syncstore.MaxSortIndex - 1)}); !slices.Equal(got, []string{"max"}) {
		t.Errorf("index_above=%d = %v, want [max]", syncstore.MaxSortIndex-1, got)
	}
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{IndexBelow: floatPtr(-syncstore.MaxSortIndex + 0.5)}); !slices.Equal(got, []string{"min"}) {
		t.Errorf("index_below=%v = %v, want [min]", -syncstore.MaxSortIndex+0.5, got)
	}
	if got := e.listIDs(t, u.ID, "bookmarks", &syncstore.Query{IndexAbove: floatPtr(-0.5), IndexBelow: floatPtr(0.5)}); !slices.Equal(got, []string{"zero"}) {
		t.Errorf("-0.5 < sortindex < 0.5 = %v, want [zero]", got)
	}
}
