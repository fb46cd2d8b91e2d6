package httpapi_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func TestPutAndGetItem(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.get("storage/meta/global").expect(http.StatusNotFound, `"record not found"`).
			expectHeader("Content-Type", "application/json")
		c.put("storage/meta/global", `{"payload":"x","sortindex":5,"parentid":"p","predecessorid":"q","ttl":100,"modified":5,"unknown":"dropped"}`).
			expect(http.StatusOK, "1300000000.00").
			expectHeader("X-Weave-Timestamp", "1300000000.00").
			expectHeader("Content-Type", "application/json")
		c.get("storage/meta/global").
			expect(http.StatusOK, `{"id":"global","modified":1300000000.00,"sortindex":5,"payload":"x","parentid":"p","predecessorid":"q"}`).
			expectHeader("Content-Type", "application/json")
		// Item GETs are JSON whatever Accept asks for.
		c.get("storage/meta/global", header("Accept", "application/newlines")).
			expectHeader("Content-Type", "application/json")
		// Unicode payloads round-trip byte for byte.
		c.put("storage/meta/unicode", `{"payload":"h\u00e9llo \u2603 \ud83d\ude00 \"q\" \\ <>&"}`).expectStatus(http.StatusOK)
		c.get("storage/meta/unicode").
			expect(http.StatusOK, `{"id":"unicode","modified":1300000000.01,"payload":"héllo ☃ 😀 \"q\" \\ <>&"}`)
	})
}

func TestPutMergesFields(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/bookmarks/a", `{"payload":"x","sortindex":1,"parentid":"p"}`).expect(http.StatusOK, "1300000000.00")
		e.clock.Advance(time.Second)
		// Metadata only: the record keeps its payload and modified, and the
		// answer is that unchanged modified.
		c.put("storage/bookmarks/a", `{"sortindex":2}`).
			expect(http.StatusOK, "1300000000.00").
			expectHeader("X-Weave-Timestamp", "1300000000.00")
		c.get("storage/bookmarks/a").
			expect(http.StatusOK, `{"id":"a","modified":1300000000.00,"sortindex":2,"payload":"x","parentid":"p"}`)
		e.clock.Advance(time.Second)
		c.put("storage/bookmarks/a", `{"payload":"y","sortindex":null,"parentid":null}`).expect(http.StatusOK, "1300000002.00")
		c.get("storage/bookmarks/a").
			expect(http.StatusOK, `{"id":"a","modified":1300000002.00,"sortindex":2,"payload":"y","parentid":"p"}`)
		// A metadata-only PUT of a new record creates it at the request time.
		e.clock.Advance(time.Second)
		c.put("storage/bookmarks/b", `{"sortindex":7}`).expect(http.StatusOK, "1300000003.00")
		c.get("storage/bookmarks/b").expect(http.StatusOK, `{"id":"b","modified":1300000003.00,"sortindex":7}`)
		// Sortindex accepts numeric strings and truncates floats.
		c.put("storage/bookmarks/c", `{"payload":"z","sortindex":"12"}`).expectStatus(http.StatusOK)
		c.put("storage/bookmarks/d", `{"payload":"z","sortindex":-12.7}`).expectStatus(http.StatusOK)
		c.put("storage/bookmarks/e", `{"payload":"z","sortindex":999999999,"ttl":31536000}`).expectStatus(http.StatusOK)
		c.get("storage/bookmarks?full=1&ids=c,d,e&sort=index").expect(http.StatusOK,
			`[{"id":"e","modified":1300000003.03,"sortindex":999999999,"payload":"z"},`+
				`{"id":"c","modified":1300000003.01,"sortindex":12,"payload":"z"},`+
				`{"id":"d","modified":1300000003.02,"sortindex":-12,"payload":"z"}]`)
	})
}

func TestPutItemIDs(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"id":"a","payload":"1"}`).expectStatus(http.StatusOK)
		c.put("storage/col/a", `{"id":"b","payload":"1"}`).expect(http.StatusBadRequest, "8")
		c.put("storage/col/a", `{"id":null,"payload":"2"}`).expectStatus(http.StatusOK)
		c.put("storage/col/a", `{"id":true,"payload":"1"}`).expect(http.StatusBadRequest, "8")
		c.put("storage/col/12", `{"id":12,"payload":"n"}`).expectStatus(http.StatusOK)
		c.put("storage/col/12", `{"id":13,"payload":"n"}`).expect(http.StatusBadRequest, "8")
		c.get("storage/col/b").expectStatus(http.StatusNotFound)
		c.get("storage/col/a").expectJSON(http.StatusOK, `{"id":"a","modified":1300000000.01,"payload":"2"}`)

		// Ids with characters that need escaping in a URL.
		for _, tc := range []struct{ path, id string }{
			{"{6820f3ca-6e8a-4ff4-8af7-8b3625d7d650}", "{6820f3ca-6e8a-4ff4-8af7-8b3625d7d650}"},
			{"%7B0a1b%7D", "{0a1b}"},
			{"a%3Fb%23c", "a?b#c"},
			{"tilde~back%5Cslash", `tilde~back\slash`},
			{"with%20space", "with space"},
		} {
			ts := c.mustPut("storage/odd/"+tc.path, `{"payload":"v"}`)
			c.get("storage/odd/"+tc.path).
				expect(http.StatusOK, `{"id":`+jsonString(tc.id)+`,"modified":`+ts+`,"payload":"v"}`)
		}
		got := ids(t, c.get("storage/odd"), false)
		want := []string{"a?b#c", "tilde~back\\slash", "with space", "{0a1b}", "{6820f3ca-6e8a-4ff4-8af7-8b3625d7d650}"}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("odd ids = %q, want %q", got, want)
		}
		c.del("storage/odd/a%3Fb%23c").expectStatus(http.StatusOK)
		c.get("storage/odd/a%3Fb%23c").expectStatus(http.StatusNotFound)

		// Ids are case-sensitive.
		c.put("storage/case/aBc", `{"payload":"lower-ish"}`).expectStatus(http.StatusOK)
		c.put("storage/case/ABC", `{"payload":"upper"}`).expectStatus(http.StatusOK)
		c.get("storage/case/aBc").expectJSON(http.StatusOK, `{"id":"aBc","modified":1300000000.09,"payload":"lower-ish"}`)
		c.get("storage/case/ABC").expectJSON(http.StatusOK, `{"id":"ABC","modified":1300000000.10,"payload":"upper"}`)
		c.get("storage/case/abc").expectStatus(http.StatusNotFound)

		// Ids no record can have: too long, or with a comma.
		long := strings.Repeat("x", 65)
		c.put("storage/col/"+long, `{"payload":"x"}`).expect(http.StatusBadRequest, "8")
		c.put("storage/col/a,b", `{"payload":"x"}`).expect(http.StatusBadRequest, "8")
		c.get("storage/col/"+long).expect(http.StatusNotFound, `"record not found"`)
		c.del("storage/col/" + long).expectStatus(http.StatusOK)
		c.put("storage/col/"+strings.Repeat("y", 64), `{"payload":"x"}`).expectStatus(http.StatusOK)
	})
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestPutItemBadBodies(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		for _, tc := range []struct{ body, code string }{
			{"", "6"},
			{"{", "6"},
			{"not json", "6"},
			{`{"payload":"x"} trailing`, "6"},
			{"[]", "8"},
			{`[{"payload":"x"}]`, "8"},
			{`"str"`, "8"},
			{"5", "8"},
			{"null", "8"},
			{`{"payload":{"a":1}}`, "8"},
			{`{"payload":["x"]}`, "8"},
			{`{"payload":5}`, "8"},
			{`{"payload":true}`, "8"},
			{`{"payload":"x","sortindex":"abc"}`, "8"},
			{`{"payload":"x","sortindex":true}`, "8"},
			{`{"payload":"x","sortindex":1000000000}`, "8"},
			{`{"payload":"x","sortindex":-1000000000}`, "8"},
			{`{"payload":"x","ttl":-1}`, "8"},
			{`{"payload":"x","ttl":31536001}`, "8"},
			{`{"payload":"x","ttl":"soon"}`, "8"},
			{`{"payload":"x","parentid":"` + strings.Repeat("p", 65) + `"}`, "8"},
			{`{"payload":"x","predecessorid":"` + strings.Repeat("p", 65) + `"}`, "8"},
			{`{"payload":"x","parentid":{"a":1}}`, "8"},
			{`{"payload":"` + strings.Repeat("x", 262145) + `"}`, "8"},
		} {
			c.put("storage/col/a", tc.body).expect(http.StatusBadRequest, tc.code).
				expectHeader("Content-Type", "application/json")
		}
		c.get("storage/col/a").expectStatus(http.StatusNotFound)
		c.get("info/collections").expect(http.StatusOK, "{}")
		// The largest payload allowed.
		c.put("storage/col/big", `{"payload":"`+strings.Repeat("x", 262144)+`"}`).expectStatus(http.StatusOK)
		c.get("info/collection_usage").expect(http.StatusOK, `{"col":256.0}`)
	})
}

func TestPayloadLimitIsConfigurable(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.MaxPayloadBytes = 10 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"payload":"0123456789"}`).expectStatus(http.StatusOK)
		c.put("storage/col/b", `{"payload":"0123456789a"}`).expect(http.StatusBadRequest, "8")
		c.post("storage/col", `[{"id":"c","payload":"0123456789a"}]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.00,"success":[],"failed":{"c":["payload too large"]}}`)
	})
}

func TestUnmodifiedSince(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/a", `{"payload":"x"}`) // collection at 1300000000.00
		e.clock.Advance(time.Second)
		older := header("X-If-Unmodified-Since", "1299999999.99")
		same := header("X-If-Unmodified-Since", "1300000000")

		c.put("storage/col/b", `{"payload":"y"}`, older).expect(http.StatusPreconditionFailed, "4").
			expectHeader("Content-Type", "application/json")
		c.post("storage/col", `[{"id":"b","payload":"y"}]`, older).expect(http.StatusPreconditionFailed, "4")
		c.post("storage/col", `[{"id":"b","sortindex":"bad"}]`, older).expect(http.StatusPreconditionFailed, "4")
		c.post("storage/col", `{"id":"b","payload":"y"}`, older).expect(http.StatusPreconditionFailed, "4")
		c.do(http.MethodPut, "storage/col", `[{"id":"b","payload":"y"}]`, older).expect(http.StatusPreconditionFailed, "4")
		c.del("storage/col/a", older).expect(http.StatusPreconditionFailed, "4")
		c.del("storage/col", older).expect(http.StatusPreconditionFailed, "4")
		c.del("storage/col?ids=a", older).expect(http.StatusPreconditionFailed, "4")
		c.get("storage/col?full=1").expectJSON(http.StatusOK, `[{"id":"a","modified":1300000000.00,"payload":"x"}]`)

		// Reads ignore the header; so does DELETE /storage (below).
		c.get("storage/col", older).expectStatus(http.StatusOK)
		// Equal is not "modified since".
		c.put("storage/col/b", `{"payload":"y"}`, same).expect(http.StatusOK, "1300000001.00")
		// A collection without records never fails the check.
		c.put("storage/empty/x", `{"payload":"y"}`, header("X-If-Unmodified-Since", "1")).expectStatus(http.StatusOK)
		c.post("storage/empty2", `[{"id":"bad","sortindex":"x"}]`, header("X-If-Unmodified-Since", "1")).expectStatus(http.StatusOK)

		for _, bad := range []string{"abc", "", "1300000000,5", "NaN"} {
			h := header("X-If-Unmodified-Since", bad)
			c.put("storage/col/z", `{"payload":"y"}`, h).expect(http.StatusBadRequest, "1")
			c.post("storage/col", `[{"id":"z","payload":"y"}]`, h).expect(http.StatusBadRequest, "1")
			c.del("storage/col/a", h).expect(http.StatusBadRequest, "1")
			c.del("storage/col", h).expect(http.StatusBadRequest, "1")
		}
		c.get("storage/col/z").expectStatus(http.StatusNotFound)
		c.del("storage", header("X-Confirm-Delete", "1"), older).expectStatus(http.StatusOK)
		c.get("info/collections").expect(http.StatusOK, "{}")
	})
}

func TestRequestBodyLimit(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.MaxRequestBytes = 1000 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		exact := `{"payload":"` + strings.Repeat("x", 1000-len(`{"payload":""}`)) + `"}`
		over := `{"payload":"` + strings.Repeat("x", 1001-len(`{"payload":""}`)) + `"}`
		unknownLength := func(r *http.Request) { r.ContentLength = -1 }
		c.put("storage/col/a", over).expect(http.StatusBadRequest, "17")
		c.put("storage/col/a", over, unknownLength).expect(http.StatusBadRequest, "17")
		c.post("storage/col", "["+over+"]").expect(http.StatusBadRequest, "17")
		c.post("storage/col", "["+over[:len(over)-2]+"]", unknownLength).expect(http.StatusBadRequest, "17")
		e.do(http.MethodPut, "/user/1.0/bob", `{"password":"`+strings.Repeat("p", 1000)+`"}`).
			expect(http.StatusBadRequest, "17")
		c.get("storage/col/a").expectStatus(http.StatusNotFound)
		c.get("info/collections").expect(http.StatusOK, "{}")
		c.put("storage/col/a", exact, unknownLength).expect(http.StatusOK, "1300000000.00")
	})
}

func TestQuota(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 3000 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/col/a", `{"payload":"`+strings.Repeat("a", 2000)+`"}`).
			expect(http.StatusOK, "1300000000.00").
			expectHeader("X-Weave-Quota-Remaining", "0.9765625")
		c.post("storage/col", `[{"id":"b","payload":"`+strings.Repeat("b", 1500)+`"}]`).
			expectJSON(http.StatusOK, `{"modified":1300000000.01,"success":["b"],"failed":{}}`).
			expectHeader("X-Weave-Quota-Remaining", "0.0")
		// Over quota: the body is exactly 14 (Firefox compares it).
		c.put("storage/col/c", `{"payload":"c"}`).expect(http.StatusBadRequest, "14")
		c.post("storage/col", `[{"id":"c","payload":"c"}]`).expect(http.StatusBadRequest, "14")
		c.post("storage/col", `{"id":"c","payload":"c"}`).expect(http.StatusBadRequest, "14")
		c.get("storage/col/c").expectStatus(http.StatusNotFound)
		c.get("info/quota").expect(http.StatusOK, `[3.41796875,2.9296875]`)
		// Deleting frees quota.
		c.del("storage/col/b").expectStatus(http.StatusOK)
		c.put("storage/col/c", `{"payload":"c"}`).expect(http.StatusOK, "1300000000.03").
			expectHeader("X-Weave-Quota-Remaining", "0.9755859375")
		// Expired records do not count against the quota.
		c.put("storage/col/a", `{"payload":"`+strings.Repeat("a", 2999)+`","ttl":10}`).expectStatus(http.StatusOK)
		e.clock.Advance(11 * time.Second)
		c.put("storage/col/d", `{"payload":"d"}`).expectStatus(http.StatusOK)
	})
	// With plenty left there is no header.
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		r := c.put("storage/col/a", `{"payload":"a"}`).expectStatus(http.StatusOK)
		if v, ok := r.header["X-Weave-Quota-Remaining"]; ok {
			t.Errorf("X-Weave-Quota-Remaining = %q with 5 MiB left", v)
		}
	})
}

func TestDeleteItem(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/col/a", `{"payload":"x"}`)
		c.mustPut("storage/col/b", `{"payload":"y"}`)
		e.clock.Advance(time.Second)
		c.del("storage/col/b").expect(http.StatusOK, "1300000001.00").expectHeader("X-Weave-Timestamp", "1300000001.00")
		c.get("storage/col/b").expectStatus(http.StatusNotFound)
		// Deleting does not bump the collection: it is the newest remaining record's time.
		c.get("info/collections").expect(http.StatusOK, `{"col":1300000000.00}`)
		c.del("storage/col/b").expect(http.StatusOK, "1300000001.01")
		c.del("storage/never/x").expect(http.StatusOK, "1300000001.02")
		c.del("storage/col/a").expectStatus(http.StatusOK)
		c.get("info/collections").expect(http.StatusOK, `{}`)
	})
}
