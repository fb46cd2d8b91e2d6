package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func TestPostBatch(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		body := `[{"id":"a","payload":"1"},
			{"id":"b","payload":"2","sortindex":"bad"},
			"not an object",
			{"payload":"no id"},
			{"id":"c","payload":"3","parentid":"x"},
			{"id":"d","payload":{"nested":1}},
			{"id":"e","payload":5},
			{"id":"` + strings.Repeat("i", 65) + `","payload":"long id"},
			{"id":true,"payload":"bool id"},
			{"id":"f","ttl":-5},
			{"id":42,"payload":"numeric id"}]`
		c.post("storage/history", body).
			expect(http.StatusOK, `{"modified":1300000000.00,"success":["a","c","42"],"failed":{`+
				`"b":["invalid sortindex"],"":["invalid id"],"e":["payload not a string"],`+
				`"`+strings.Repeat("i", 65)+`":["invalid id"],"f":["invalid ttl"]}}`).
			expectHeader("X-Weave-Timestamp", "1300000000.00").
			expectHeader("Content-Type", "application/json")
		c.get("storage/history?full=1&limit=10").expectJSON(http.StatusOK,
			`[{"id":"42","modified":1300000000.00,"payload":"numeric id"},{"id":"a","modified":1300000000.00,"payload":"1"},`+
				`{"id":"c","modified":1300000000.00,"payload":"3","parentid":"x"}]`)

		// Nothing accepted still answers with the request time.
		e.clock.Advance(time.Second)
		c.post("storage/history", `[{"id":"z","sortindex":"x"}]`).
			expect(http.StatusOK, `{"modified":1300000001.00,"success":[],"failed":{"z":["invalid sortindex"]}}`).
			expectHeader("X-Weave-Timestamp", "1300000001.00")
		c.post("storage/history", " [ ] \n").
			expect(http.StatusOK, `{"modified":1300000001.00,"success":[],"failed":{}}`)
		// PUT on the collection is the same upload.
		c.put("storage/history", `[{"id":"g","payload":"7"}]`).
			expect(http.StatusOK, `{"modified":1300000001.00,"success":["g"],"failed":{}}`)
	})
}

func TestPostSingleObjectAndBadBodies(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.post("storage/clients", `{"id":"x","payload":"1"}`).
			expect(http.StatusOK, "1300000000.00").
			expectHeader("X-Weave-Timestamp", "1300000000.00")
		c.get("storage/clients/x").expect(http.StatusOK, `{"id":"x","modified":1300000000.00,"payload":"1"}`)
		for _, tc := range []struct{ body, code string }{
			{`{"payload":"no id"}`, "8"},
			{`{"id":"a/b","payload":"1"}`, "8"},
			{`{"id":"x","payload":7}`, "8"},
			{`"string"`, "8"},
			{"5", "8"},
			{"true", "8"},
			{"null", "8"},
			{"", "6"},
			{"[", "6"},
			{"[{]", "6"},
			{"not json", "6"},
			{`[{"id":"a","payload":"1"}] x`, "6"},
		} {
			c.post("storage/clients", tc.body).expect(http.StatusBadRequest, tc.code)
		}
		c.get("storage/clients").expectJSON(http.StatusOK, `["x"]`)
	})
}

func TestPostLimits(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		// Record 100 (the 101st) must be retried.
		success := make([]string, 100)
		for i := range success {
			success[i] = fmt.Sprintf("%q", fmt.Sprintf("r%d", i))
		}
		c.post("storage/history", records("r", 101, 10)).
			expect(http.StatusOK, `{"modified":1300000000.00,"success":[`+strings.Join(success, ",")+`],"failed":{"r100":["retry wbo"]}}`)
		c.get("info/collection_counts").expect(http.StatusOK, `{"history":100}`)

		// The index counts invalid elements too.
		body := `[{"id":"bad","sortindex":"x"},` + records("s", 100, 10)[1:]
		r := c.post("storage/forms", body).expectStatus(http.StatusOK)
		if !strings.HasSuffix(r.body, `"failed":{"bad":["invalid sortindex"],"s99":["retry wbo"]}}`) {
			t.Errorf("failed part of %s", r.body)
		}

		// Payloads add up to 1 MiB: the fourth 256 KiB payload reaches it, and
		// every later record fails too, with a payload or without.
		big := strings.Repeat("x", 262144)
		body = fmt.Sprintf(`[{"id":"b0","payload":%q},{"id":"b1","payload":%q},{"id":"b2","payload":%q},`+
			`{"id":"b3","payload":%q},{"id":"b4","payload":"small"},{"id":"b5","sortindex":1}]`, big, big, big, big)
		c.post("storage/bookmarks", body).
			expect(http.StatusOK, `{"modified":1300000000.02,"success":["b0","b1","b2"],`+
				`"failed":{"b3":["retry bytes"],"b4":["retry bytes"],"b5":["retry bytes"]}}`)
	})
	// A batch of more payload than a POST may write, but within the body
	// limit (eight 256 KiB records, 2 MiB), is answered record by record
	// so the client re-queues the rest; ten (2.5 MiB) cannot be a legal
	// POST and are refused whole, before anything is written.
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		big := strings.Repeat("y", 262144)
		var elems, failed []string
		for i := range 10 {
			elems = append(elems, fmt.Sprintf(`{"id":"g%d","payload":%q}`, i, big))
			if i >= 3 && i < 8 {
				failed = append(failed, fmt.Sprintf(`"g%d":["retry bytes"]`, i))
			}
		}
		c.post("storage/bookmarks", "["+strings.Join(elems, ",")+"]").expect(http.StatusBadRequest, "17")
		c.get("info/collection_counts").expect(http.StatusOK, `{}`)
		c.post("storage/bookmarks", "["+strings.Join(elems[:8], ",")+"]").
			expect(http.StatusOK, `{"modified":1300000000.00,"success":["g0","g1","g2"],"failed":{`+strings.Join(failed, ",")+`}}`)
		c.get("info/collection_counts").expect(http.StatusOK, `{"bookmarks":3}`)
	})
	withEnv(t, func(c *httpapi.Config) { c.MaxPostRecords = 2; c.MaxPostBytes = 10 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.post("storage/history", `[{"id":"a","payload":"12345"},{"id":"b","payload":"1234"},{"id":"c","payload":""}]`).
			expect(http.StatusOK, `{"modified":1300000000.00,"success":["a","b"],"failed":{"c":["retry wbo"]}}`)
		c.post("storage/history", `[{"id":"a","payload":"12345"},{"id":"b","payload":"12345"}]`).
			expect(http.StatusOK, `{"modified":1300000000.01,"success":["a"],"failed":{"b":["retry bytes"]}}`)
	})
}

func TestPostSharesOneTimestamp(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		e.clock.Advance(1234 * time.Millisecond)
		r := c.post("storage/bookmarks", records("a", 3, 20)).expectStatus(http.StatusOK)
		modified := r.timestamp()
		if modified != "1300000001.23" || !strings.HasPrefix(r.body, `{"modified":1300000001.23,`) {
			t.Fatalf("POST: header %s, body %s", modified, r.body)
		}
		full := c.get("storage/bookmarks?full=1&sort=oldest").body
		if n := strings.Count(full, `"modified":1300000001.23`); n != 3 {
			t.Errorf("%d of 3 records carry the POST's timestamp: %s", n, full)
		}
		// The client asks newer=<its own POST's timestamp> next: strict, so
		// it does not download its own upload again.
		c.get("storage/bookmarks?newer="+modified).expect(http.StatusOK, "[]")
		c.get("storage/bookmarks?newer=1300000001.22").expectStatus(http.StatusOK).expectHeader("X-Weave-Records", "3")
		// Another write in the same 10 ms still gets a later timestamp.
		c.post("storage/bookmarks", records("b", 1, 20)).
			expect(http.StatusOK, `{"modified":1300000001.24,"success":["b0"],"failed":{}}`)
		c.get("storage/bookmarks?newer="+modified).expectJSON(http.StatusOK, `["b0"]`)
	})
}

func TestPostMerges(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/bookmarks/a", `{"payload":"x","sortindex":1,"parentid":"p","ttl":100}`).expectStatus(http.StatusOK)
		e.clock.Advance(time.Second)
		c.post("storage/bookmarks", `[{"id":"a","sortindex":5}]`).
			expect(http.StatusOK, `{"modified":1300000001.00,"success":["a"],"failed":{}}`)
		c.get("storage/bookmarks/a").
			expect(http.StatusOK, `{"id":"a","modified":1300000000.00,"sortindex":5,"payload":"x","parentid":"p"}`)
		// The ttl was rewritten (absent = never expires).
		e.clock.Advance(time.Hour)
		c.get("storage/bookmarks/a").expectStatus(http.StatusOK)
		// Duplicates in one batch merge field by field, later ones winning.
		c.post("storage/bookmarks", `[{"id":"d","payload":"1","sortindex":1},{"id":"d","payload":"2"}]`).
			expect(http.StatusOK, `{"modified":1300003601.00,"success":["d","d"],"failed":{}}`)
		c.get("storage/bookmarks/d").
			expect(http.StatusOK, `{"id":"d","modified":1300003601.00,"sortindex":1,"payload":"2"}`)
	})
}
