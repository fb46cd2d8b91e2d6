package httpapi_test

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// fillBookmarks writes four records one second apart:
//
//	a  1300000000.00  sortindex 10  parentid p1  predecessorid x
//	b  1300000001.00  sortindex 30  parentid p2
//	c  1300000002.00  sortindex 20  parentid p1  predecessorid y
//	d  1300000003.00  (no sortindex)
func fillBookmarks(e *env, c *client) {
	e.t.Helper()
	for _, rec := range []string{
		`{"id":"a","payload":"pa","sortindex":10,"parentid":"p1","predecessorid":"x"}`,
		`{"id":"b","payload":"pb","sortindex":30,"parentid":"p2"}`,
		`{"id":"c","payload":"pc","sortindex":20,"parentid":"p1","predecessorid":"y"}`,
		`{"id":"d","payload":"pd"}`,
	} {
		c.post("storage/bookmarks", "["+rec+"]").expectStatus(http.StatusOK)
		e.clock.Advance(time.Second)
	}
}

// ids decodes a JSON list of ids; sorted unless the order matters.
func ids(t *testing.T, r *resp, ordered bool) []string {
	t.Helper()
	var out []string
	if err := json.Unmarshal([]byte(r.body), &out); err != nil {
		t.Fatalf("%s: body %q is not a list of ids: %v", r.req, r.body, err)
	}
	if !ordered {
		slices.Sort(out)
	}
	return out
}

func TestGetCollectionFilters(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		fillBookmarks(e, c)
		for _, tc := range []struct {
			query   string
			want    []string
			ordered bool
		}{
			{"", []string{"a", "b", "c", "d"}, false},
			{"?newer=1300000001", []string{"c", "d"}, false},
			{"?newer=1300000001.00", []string{"c", "d"}, false},
			{"?newer=1300000000.996", []string{"c", "d"}, false}, // rounded to 1300000001.00
			{"?newer=1300000003.00", nil, false},
			{"?older=1300000002", []string{"a", "b"}, false},
			{"?older=1300000000.00", nil, false},
			{"?newer=1300000000&older=1300000003", []string{"b", "c"}, false},
			{"?index_above=10", []string{"b", "c"}, false},
			{"?index_below=30", []string{"a", "c"}, false},
			{"?index_above=10&index_below=30", []string{"c"}, false},
			{"?index_above=10.5&index_below=29.5", []string{"c"}, false},
			{"?ids=a,c,zz", []string{"a", "c"}, false},
			{"?ids=", nil, false},
			{"?ids=" + strings.Repeat("x", 100), nil, false},
			{"?parentid=p1", []string{"a", "c"}, false},
			{"?predecessorid=y", []string{"c"}, false},
			{"?parentid=p1&newer=1300000000", []string{"c"}, false},
			{"?sort=oldest", []string{"a", "b", "c", "d"}, true},
			{"?sort=newest", []string{"d", "c", "b", "a"}, true},
			{"?ids=a,b,c&sort=index", []string{"b", "c", "a"}, true},
			{"?sort=bogus", []string{"a", "b", "c", "d"}, false},
			{"?sort=oldest&limit=2", []string{"a", "b"}, true},
			{"?sort=oldest&limit=2&offset=1", []string{"b", "c"}, true},
			{"?sort=newest&limit=1&offset=3", []string{"a"}, true},
			{"?limit=2", []string{"a", "b"}, true}, // limit without sort pages in id order
			{"?limit=2&offset=2", []string{"c", "d"}, true},
			{"?offset=2", []string{"a", "b", "c", "d"}, false}, // offset needs limit
			{"?limit=0", []string{"a", "b", "c", "d"}, false},
			{"?limit=-5", []string{"a", "b", "c", "d"}, false},
			{"?full=", []string{"a", "b", "c", "d"}, false},
			{"?client=FxHome&v=1.1b2&unknown=1", []string{"a", "b", "c", "d"}, false},
		} {
			r := c.get("storage/bookmarks" + tc.query).expectStatus(http.StatusOK)
			got := ids(t, r, tc.ordered)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s: ids %v, want %v", r.req, got, tc.want)
			}
			r.expectHeader("X-Weave-Records", itoa(len(tc.want)))
			r.expectHeader("Content-Type", "application/json")
		}
	})
}

func TestGetCollectionFull(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		fillBookmarks(e, c)
		want := `[{"id":"a","modified":1300000000.00,"sortindex":10,"payload":"pa","parentid":"p1","predecessorid":"x"},` +
			`{"id":"b","modified":1300000001.00,"sortindex":30,"payload":"pb","parentid":"p2"},` +
			`{"id":"c","modified":1300000002.00,"sortindex":20,"payload":"pc","parentid":"p1","predecessorid":"y"},` +
			`{"id":"d","modified":1300000003.00,"payload":"pd"}]`
		c.get("storage/bookmarks?full=1&sort=oldest").expect(http.StatusOK, want).expectHeader("X-Weave-Records", "4")
		// The Reference treats any non-empty value as true, "0" included.
		c.get("storage/bookmarks?full=0&sort=oldest").expect(http.StatusOK, want)
		c.get("storage/bookmarks?full=1&newer=1300000002.00").
			expect(http.StatusOK, `[{"id":"d","modified":1300000003.00,"payload":"pd"}]`).
			expectHeader("X-Weave-Records", "1")
	})
}

func TestGetCollectionBadParameters(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		fillBookmarks(e, c)
		for _, q := range []string{
			"limit=abc", "limit=", "limit=1.5", "offset=x", "limit=2&offset=", "newer=x", "newer=", "older=",
			"older=12abc", "newer=inf", "newer=NaN", "index_above=zz", "index_below=NaN", "index_above=",
			"index_below=Inf", "limit=99999999999999999999",
		} {
			c.get("storage/bookmarks?"+q).expect(http.StatusBadRequest, "1").expectHeader("Content-Type", "application/json")
			c.del("storage/bookmarks?"+q).expect(http.StatusBadRequest, "1")
		}
		// Nothing was deleted by the refused DELETEs.
		c.get("info/collection_counts").expect(http.StatusOK, `{"bookmarks":4}`)
	})
}

func TestGetEmptyOrUnknownCollection(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.get("storage/nothing-here").expect(http.StatusOK, "[]").expectHeader("X-Weave-Records", "0")
		c.get("storage/nothing-here?full=1").expect(http.StatusOK, "[]")
		c.get("storage/nothing-here?full=1", header("Accept", "application/newlines")).
			expect(http.StatusOK, "").expectHeader("Content-Type", "application/newlines")
		c.get("storage/nothing-here", header("Accept", "application/whoisi")).
			expect(http.StatusOK, "").expectHeader("Content-Type", "application/whoisi")
		// An emptied collection lists as empty too.
		c.mustPut("storage/tabs/t", `{"payload":"x"}`)
		c.del("storage/tabs").expectStatus(http.StatusOK)
		c.get("storage/tabs").expect(http.StatusOK, "[]")
	})
}

func TestGetCollectionFormats(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		fillBookmarks(e, c)
		// A payload with a newline stays on one line (it is escaped).
		c.put("storage/bookmarks/e", `{"payload":"line1\nline2"}`).expectStatus(http.StatusOK)
		lines := []string{
			`{"id":"a","modified":1300000000.00,"sortindex":10,"payload":"pa","parentid":"p1","predecessorid":"x"}`,
			`{"id":"b","modified":1300000001.00,"sortindex":30,"payload":"pb","parentid":"p2"}`,
			`{"id":"c","modified":1300000002.00,"sortindex":20,"payload":"pc","parentid":"p1","predecessorid":"y"}`,
			`{"id":"d","modified":1300000003.00,"payload":"pd"}`,
			`{"id":"e","modified":1300000004.00,"payload":"line1\nline2"}`,
		}
		newlines := strings.Join(lines, "\n") + "\n"
		for _, accept := range []string{
			"application/newlines",
			"APPLICATION/NEWLINES",
			"application/newlines; charset=utf-8",
			"application/json;q=0.5, application/newlines",
			"text/html, application/newlines;q=0.1",
			"application/whoisi;q=0.5, application/newlines;q=0.9",
		} {
			c.get("storage/bookmarks?full=1&sort=oldest", header("Accept", accept)).
				expect(http.StatusOK, newlines).
				expectHeader("Content-Type", "application/newlines").
				expectHeader("X-Weave-Records", "5")
		}
		c.get("storage/bookmarks?sort=oldest", header("Accept", "application/newlines")).
			expect(http.StatusOK, "\"a\"\n\"b\"\n\"c\"\n\"d\"\n\"e\"\n")

		var whoisi []byte
		for _, l := range lines {
			whoisi = binary.BigEndian.AppendUint32(whoisi, uint32(len(l)))
			whoisi = append(whoisi, l...)
		}
		for _, accept := range []string{
			"application/whoisi",
			"application/whoisi, application/newlines",
			"application/newlines, application/whoisi, application/json",
			"application/newlines;q=0.8, application/whoisi;q=0.8",
		} {
			c.get("storage/bookmarks?full=1&sort=oldest", header("Accept", accept)).
				expect(http.StatusOK, string(whoisi)).
				expectHeader("Content-Type", "application/whoisi")
		}
		c.get("storage/bookmarks?ids=a,b&sort=oldest", header("Accept", "application/whoisi")).
			expect(http.StatusOK, "\x00\x00\x00\x03\"a\"\x00\x00\x00\x03\"b\"")

		jsonBody := "[" + strings.Join(lines, ",") + "]"
		for _, accept := range []string{
			"", "*/*", "application/json", "text/html", "application/*",
			"application/newlines;q=0", "application/newlines;q=0.5, application/json",
			"application/whoisi;q=0.2, application/json;q=0.3", "application/newlines;q=bogus",
		} {
			c.get("storage/bookmarks?full=1&sort=oldest", header("Accept", accept)).
				expect(http.StatusOK, jsonBody).
				expectHeader("Content-Type", "application/json")
		}
	})
}

func TestTTLHidesRecords(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/tabs/gone", `{"payload":"x","ttl":0}`).expectStatus(http.StatusOK)
		c.put("storage/tabs/short", `{"payload":"y","ttl":10}`).expectStatus(http.StatusOK)
		c.put("storage/tabs/forever", `{"payload":"z"}`).expectStatus(http.StatusOK)
		c.get("storage/tabs/gone").expectStatus(http.StatusNotFound)
		got := ids(t, c.get("storage/tabs"), false)
		if !slices.Equal(got, []string{"forever", "short"}) {
			t.Errorf("tabs = %v, want [forever short]", got)
		}
		e.clock.Advance(11 * time.Second)
		c.get("storage/tabs/short").expectStatus(http.StatusNotFound)
		c.get("storage/tabs").expectJSON(http.StatusOK, `["forever"]`)
		c.get("info/collection_counts").expect(http.StatusOK, `{"tabs":1}`)

		// A PUT over an expired record revives it; a PUT without ttl
		// clears an earlier one.
		c.put("storage/tabs/short", `{"payload":"again"}`).expectStatus(http.StatusOK)
		c.put("storage/tabs/forever", `{"payload":"z2","ttl":5}`).expectStatus(http.StatusOK)
		c.put("storage/tabs/forever", `{"sortindex":3}`).expectStatus(http.StatusOK)
		e.clock.Advance(time.Hour)
		c.get("storage/tabs/short").expectJSON(http.StatusOK, `{"id":"short","modified":1300000011.00,"payload":"again"}`)
		c.get("storage/tabs/forever").expectJSON(http.StatusOK, `{"id":"forever","modified":1300000011.01,"sortindex":3,"payload":"z2"}`)
	})
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
