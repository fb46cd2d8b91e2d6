package httpapi_test

// Tests pinning docs/protocol.md statements that an audit found the handler
// did not follow; each names the section it checks.

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// §5.2: an element with an object or list in any field is "invalid wbo"
// keyed under "", like an element that is not an object at all.
func TestBatchNonScalarFieldIsKeyedUnderEmptyID(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.post("storage/col", `[{"id":"a","payload":"1"},{"id":"d","payload":{"nested":1}}]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.00,"success":["a"],"failed":{"":["invalid wbo"]}}`)
		c.post("storage/col", `[{"id":"e","payload":"1","unknown":[1]}]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.00,"success":[],"failed":{"":["invalid wbo"]}}`)
		c.get("storage/col").expectJSON(http.StatusOK, `["a"]`)
	})
}

// §3.1 and §6.7: the answer to a metadata-only PUT of an existing record
// is its unchanged modified, and X-Weave-Timestamp carries the same text
// as the body, as on every write.
func TestMetadataOnlyPutHeaderMatchesBody(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"payload":"x"}`).expect(http.StatusOK, "1300000000.00")
		e.clock.Advance(time.Second)
		c.put("storage/col/a", `{"sortindex":2}`).
			expect(http.StatusOK, "1300000000.00").
			expectHeader("X-Weave-Timestamp", "1300000000.00")
		// The same through a POST of a single object.
		c.post("storage/col", `{"id":"a","parentid":"p"}`).
			expect(http.StatusOK, "1300000000.00").
			expectHeader("X-Weave-Timestamp", "1300000000.00")
		c.get("storage/col/a").expect(http.StatusOK, `{"id":"a","modified":1300000000.00,"sortindex":2,"payload":"x","parentid":"p"}`)
		// A later write is still later than every earlier one.
		c.put("storage/col/b", `{"payload":"y"}`).expect(http.StatusOK, "1300000001.02")
	})
}

// §6.7 and §6.8 give the order of the checks: a PUT is refused for quota
// (14) and X-If-Unmodified-Since (412) before its body is looked at; a
// POST for X-If-Unmodified-Since before its body, and for quota after the
// records were validated, even when none was accepted.
func TestWriteRefusalsPrecedeBodyErrors(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 1000 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/a", `{"payload":"x"}`)
		stale := header("X-If-Unmodified-Since", "1299999999.00")
		for _, body := range []string{"not json", `[{"payload":"x"}]`, `{"payload":5}`, `{"id":"other","payload":"x"}`} {
			c.put("storage/col/b", body, stale).expect(http.StatusPreconditionFailed, "4")
		}
		c.put("storage/col/"+strings.Repeat("x", 65), `{"payload":"x"}`, stale).expect(http.StatusPreconditionFailed, "4")
		for _, body := range []string{"not json", `"str"`, `{"payload":"no id"}`, `{"id":"b","payload":5}`} {
			c.post("storage/col", body, stale).expect(http.StatusPreconditionFailed, "4")
		}
		// Bodies are judged once the preconditions hold.
		c.put("storage/col/b", "not json").expect(http.StatusBadRequest, "6")
		c.post("storage/col", `{"payload":"no id"}`).expect(http.StatusBadRequest, "8")

		c.mustPut("storage/col/big", `{"payload":"`+strings.Repeat("b", 1000)+`"}`)
		for _, body := range []string{"not json", `{"payload":5}`, `{"id":"other","payload":"x"}`} {
			c.put("storage/col/b", body).expect(http.StatusBadRequest, "14")
		}
		// Quota comes before X-If-Unmodified-Since on a PUT.
		c.put("storage/col/b", "not json", stale).expect(http.StatusBadRequest, "14")
		c.post("storage/col", `{"id":"b","payload":5}`).expect(http.StatusBadRequest, "14")
		c.post("storage/col", `[{"id":"b","payload":5}]`).expect(http.StatusBadRequest, "14")
		c.post("storage/col", `[]`).expect(http.StatusBadRequest, "14")
		// A POST body that does not parse is reported before the quota.
		c.post("storage/col", "not json").expect(http.StatusBadRequest, "6")
		c.post("storage/col", `{"payload":"no id"}`).expect(http.StatusBadRequest, "8")
		c.get("info/collection_counts").expect(http.StatusOK, `{"col":2}`)
	})
}

// §6.3 and §6.4: sizes in KB are floats, integral ones included; the
// quota limit is the configured KB.
func TestInfoSizesAreFloats(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.get("info/quota").expect(http.StatusOK, `[0.0,5120]`)
		c.mustPut("storage/col/a", `{"payload":"`+strings.Repeat("a", 2048)+`"}`)
		c.mustPut("storage/half/a", `{"payload":"`+strings.Repeat("a", 512)+`"}`)
		c.get("info/collection_usage").expect(http.StatusOK, `{"col":2.0,"half":0.5}`)
		c.get("info/quota").expect(http.StatusOK, `[2.5,5120]`)
	})
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 2048 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"payload":"`+strings.Repeat("a", 1024)+`"}`).
			expectHeader("X-Weave-Quota-Remaining", "1.0")
		c.get("info/quota").expect(http.StatusOK, `[1.0,2]`)
	})
}

// §6.5: a client may split Accept over several header lines; together
// they are one list.
func TestAcceptOverSeveralHeaderLines(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/a", `{"payload":"x"}`)
		c.get("storage/col", func(r *http.Request) {
			r.Header.Add("Accept", "text/html")
			r.Header.Add("Accept", "application/newlines")
		}).expect(http.StatusOK, "\"a\"\n").expectHeader("Content-Type", "application/newlines")
	})
}

// §6.5: whoisi lengths count the bytes of the UTF-8 JSON text, not its
// characters.
func TestWhoisiLengthsAreBytes(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/a", `{"payload":"h\u00e9 \u2603 \ud83d\ude00"}`)
		rec := `{"id":"a","modified":1300000000.00,"payload":"hé ☃ 😀"}`
		want := string(binary.BigEndian.AppendUint32(nil, uint32(len(rec)))) + rec
		if len(rec) != 60 { // 54 characters
			t.Fatalf("record text is %d bytes", len(rec))
		}
		c.get("storage/col?full=1", header("Accept", "application/whoisi")).
			expect(http.StatusOK, want).
			expectHeader("Content-Type", "application/whoisi").
			expectHeader("X-Weave-Records", "1")
	})
}

// §5.4: expired rows are invisible to reads but still date their
// collection for X-If-Unmodified-Since, and a PUT over one updates it in
// place, a metadata-only PUT included.
func TestExpiredRowsAndWrites(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"payload":"x","ttl":0}`).expect(http.StatusOK, "1300000000.00")
		c.get("storage/col").expect(http.StatusOK, "[]")
		e.clock.Advance(time.Second)
		c.put("storage/col/b", `{"payload":"y"}`, header("X-If-Unmodified-Since", "1299999999.99")).
			expect(http.StatusPreconditionFailed, "4")
		c.del("storage/col/a", header("X-If-Unmodified-Since", "1299999999.99")).
			expect(http.StatusPreconditionFailed, "4")
		// Metadata only: the old payload and modified come back with the
		// record, which no longer expires.
		c.put("storage/col/a", `{"sortindex":4}`).expect(http.StatusOK, "1300000000.00")
		e.clock.Advance(time.Hour)
		c.get("storage/col/a").expect(http.StatusOK, `{"id":"a","modified":1300000000.00,"sortindex":4,"payload":"x"}`)
	})
}

// §8.1: "1" stands for "1.0" on /misc too.
func TestMiscVersionSynonym(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.Captcha = testCaptchaConfig("http://127.0.0.1:1/verify") }, func(t *testing.T, e *env) {
		for _, v := range []string{"1.0", "1"} {
			e.do(http.MethodGet, "/misc/"+v+"/captcha_html", "").expectStatus(http.StatusOK).
				expectHeader("Content-Type", "text/html; charset=utf-8")
		}
		e.do(http.MethodGet, "/misc/1.1/captcha_html", "").expect(http.StatusNotFound, "not found")
	})
}

// §7.3: the User API's writes answer a failed store like the storage API,
// with 503 and the back-off headers; a cached login does not let them
// through.
func TestUserAPIWritesOnFailedStore(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.get("info/collections").expectStatus(http.StatusOK) // the password is now cached
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		auth := basicAuth("alice", c.password)
		for _, r := range []*resp{
			e.do(http.MethodDelete, "/user/1.0/alice", "", auth),
			e.do(http.MethodPost, "/user/1.0/alice/password", "new password 1", auth),
			e.do(http.MethodPost, "/user/1.0/alice/email", "new@example.org", auth),
			e.do(http.MethodPost, "/user/1.0/alice/password", "new password 1", header("X-Weave-Password-Reset", "ABCD")),
		} {
			r.expect(http.StatusServiceUnavailable, `"server issue: database unavailable"`).
				expectHeader("Content-Type", "application/json").
				expectHeader("Retry-After", "1800").
				expectHeader("X-Weave-Backoff", "1800")
		}
	})
}

// §2.5, §7: the exact status, body and Content-Type of each kind of error.
func TestErrorResponsesExactly(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.MaxRequestBytes = 100 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/a", `{"payload":"x"}`)
		const jsonType, textType = "application/json", "text/plain; charset=utf-8"
		for _, tc := range []struct {
			r           *resp
			code        int
			body, ctype string
		}{
			{e.do(http.MethodGet, "/nowhere", ""), 404, "not found", textType},
			{e.do(http.MethodGet, "/1.1/alice/storage", ""), 405, "method not allowed", textType},
			{e.do(http.MethodGet, "/1.1/alice/info/collections", ""), 401, "authentication failed", textType},
			{c.get("storage/col/missing"), 404, `"record not found"`, jsonType},
			{c.get("storage/col?limit=x"), 400, "1", jsonType},
			{c.put("storage/col/a", "{"), 400, "6", jsonType},
			{c.put("storage/col/a", `{"payload":1}`), 400, "8", jsonType},
			{c.get("storage/bad$name"), 400, "13", jsonType},
			{c.del("storage"), 400, "4", jsonType},
			{c.put("storage/col/a", `{"payload":"`+strings.Repeat("x", 100)+`"}`), 400, "17", jsonType},
			{c.put("storage/col/a", `{"payload":"y"}`, header("X-If-Unmodified-Since", "1")), 412, "4", jsonType},
			{e.do(http.MethodPut, "/user/1.0/alice", `{}`), 400, "4", jsonType},
		} {
			tc.r.expect(tc.code, tc.body).expectHeader("Content-Type", tc.ctype)
		}
	})
}

// §6.7: a PUT checks the quota before X-If-Unmodified-Since whatever its
// body holds, a valid record included (the store checks the precondition
// first, which is the order of a batch POST, §6.8).
func TestPutChecksQuotaBeforePrecondition(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 1000 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/big", `{"payload":"`+strings.Repeat("b", 1000)+`"}`)
		stale := header("X-If-Unmodified-Since", "1299999999.00")
		c.put("storage/col/b", `{"payload":"x"}`, stale).expect(http.StatusBadRequest, "14")
		c.put("storage/col/big", `{"sortindex":1}`, stale).expect(http.StatusBadRequest, "14")
		// A POST checks the precondition first, a single object included.
		c.post("storage/col", `{"id":"b","payload":"x"}`, stale).expect(http.StatusPreconditionFailed, "4")
		c.post("storage/col", `[{"id":"b","payload":"x"}]`, stale).expect(http.StatusPreconditionFailed, "4")
		// Under the quota the precondition decides.
		c.del("storage/col/big")
		c.mustPut("storage/col/a", `{"payload":"x"}`)
		c.put("storage/col/b", `{"payload":"x"}`, stale).expect(http.StatusPreconditionFailed, "4")
		c.get("storage/col").expectJSON(http.StatusOK, `["a"]`)
	})
}

// §6.8 with §6.7: a POST answers 200 even when it accepted no record, and
// like every successful upload it then carries X-Weave-Quota-Remaining
// once at most 1 MiB of the quota is left.
func TestEmptyBatchReportsQuotaRemaining(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 2048 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"payload":"`+strings.Repeat("a", 1536)+`"}`).
			expectHeader("X-Weave-Quota-Remaining", "0.5")
		c.post("storage/col", `[]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.00,"success":[],"failed":{}}`).
			expectHeader("X-Weave-Quota-Remaining", "0.5")
		c.post("storage/col", `[{"id":"b","payload":5}]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.00,"success":[],"failed":{"b":["payload not a string"]}}`).
			expectHeader("X-Weave-Quota-Remaining", "0.5")
	})
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 0 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.post("storage/col", `[]`).expectStatus(http.StatusOK).expectHeader("X-Weave-Quota-Remaining", "")
	})
}

// §3.1, §4.2, §6.5: timestamps a client sends are rounded to hundredths
// on their decimal text, half to even, as the Reference's round_time;
// 1300000000.125 is 1300000000.12, so a collection stamped .13 is newer.
func TestSentTimestampsRoundOnTheirDecimals(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		e.clock.Advance(130 * time.Millisecond)
		c.put("storage/col/a", `{"payload":"x"}`).expect(http.StatusOK, "1300000000.13")
		c.get("storage/col?newer=1300000000.125").expectJSON(http.StatusOK, `["a"]`)
		c.get("storage/col?older=1300000000.125").expectJSON(http.StatusOK, `[]`)
		c.get("storage/col?older=1300000000.135").expectJSON(http.StatusOK, `["a"]`)
		c.get("storage/col?newer=1300000000.1249999999").expectJSON(http.StatusOK, `["a"]`)
		c.put("storage/col/b", `{"payload":"x"}`, header("X-If-Unmodified-Since", "1300000000.125")).
			expect(http.StatusPreconditionFailed, "4")
		c.put("storage/col/b", `{"payload":"x"}`, header("X-If-Unmodified-Since", "1300000000.1250001")).
			expectStatus(http.StatusOK)
	})
}

// §6.5, §6.9: a query string is read as the Reference's parser reads it:
// a '%' that starts no escape is itself, and ';' is part of a value. An
// ids list holding either must select those ids, never drop the filter:
// DELETE storage/<c> without ids deletes the whole collection.
func TestQueryValuesKeepBadEscapesAndSemicolons(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.post("storage/col", `[{"id":"a","payload":"1"},{"id":"b","payload":"1"},{"id":"50%off","payload":"1"},{"id":"x;y","payload":"1"},{"id":"p q","payload":"1"}]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.00,"success":["a","b","50%off","x;y","p q"],"failed":{}}`)
		c.get("storage/col?ids=zz%zz").expectJSON(http.StatusOK, `[]`)
		c.del("storage/col?ids=zz%zz").expectStatus(http.StatusOK)
		c.del("storage/col?ids=x;zz").expectStatus(http.StatusOK)
		c.get("storage/col?sort=oldest&limit=10").expectJSON(http.StatusOK, `["50%off","a","b","p q","x;y"]`)
		c.get("storage/col?ids=50%off,a&sort=oldest").expectJSON(http.StatusOK, `["50%off","a"]`)
		c.get("storage/col?ids=x;y&sort=index").expectJSON(http.StatusOK, `["x;y"]`)
		c.get("storage/col?ids=p+q,a%2Cb&limit=5").expectJSON(http.StatusOK, `["a","b","p q"]`)
		c.get("storage/col?sort=oldest&full=1;newer=1").expectJSON(http.StatusOK,
			`[{"id":"50%off","modified":1300000000.00,"payload":"1"},{"id":"a","modified":1300000000.00,"payload":"1"},{"id":"b","modified":1300000000.00,"payload":"1"},{"id":"p q","modified":1300000000.00,"payload":"1"},{"id":"x;y","modified":1300000000.00,"payload":"1"}]`)
		c.del("storage/col?ids=50%off").expectStatus(http.StatusOK)
		c.del("storage/col?ids=x;y").expectStatus(http.StatusOK)
		c.get("storage/col?limit=10").expectJSON(http.StatusOK, `["a","b","p q"]`)
		c.get("storage/col?newer=abc%zz").expect(http.StatusBadRequest, "1")
	})
}

// §9: with a quota, records of empty payloads (which cost no quota) and
// new collections are bounded too: a quota of 500 bytes admits 10 records
// (one per 50 bytes) and any account 100 collections; beyond, writes that
// add answer 400 14 and store nothing, while updates still pass.
func TestQuotaBoundsRecordsAndCollections(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 500 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		batch := func(from, n int) string {
			var b strings.Builder
			b.WriteString("[")
			for i := range n {
				if i > 0 {
					b.WriteString(",")
				}
				fmt.Fprintf(&b, `{"id":"r%d","payload":""}`, from+i)
			}
			return b.String() + "]"
		}
		c.post("storage/col", batch(0, 8)).expectStatus(http.StatusOK)
		c.post("storage/col", batch(8, 3)).expect(http.StatusBadRequest, "14")
		c.get("info/collection_counts").expectJSON(http.StatusOK, `{"col":8}`)
		c.post("storage/col", batch(0, 10)).expectStatus(http.StatusOK)
		c.put("storage/col/r0", `{"payload":"x"}`).expectStatus(http.StatusOK)
		c.put("storage/col/r10", `{"payload":"x"}`).expect(http.StatusBadRequest, "14")
	})
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 1 << 20 }, func(t *testing.T, e *env) {
		bob := e.user("bob")
		for i := range 100 {
			bob.put(fmt.Sprintf("storage/c%d/a", i), `{"payload":"x"}`).expectStatus(http.StatusOK)
		}
		bob.put("storage/c100/a", `{"payload":"x"}`).expect(http.StatusBadRequest, "14")
		bob.put("storage/c99/b", `{"payload":"x"}`).expectStatus(http.StatusOK)
	})
}
