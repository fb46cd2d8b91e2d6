package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func TestInfoEmptyUser(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.get("info/collections").expect(http.StatusOK, `{}`).
			expectHeader("X-Weave-Records", "0").
			expectHeader("Content-Type", "application/json").
			expectHeader("X-Weave-Timestamp", "1300000000.00")
		c.get("info/collection_counts").expect(http.StatusOK, `{}`).expectHeader("X-Weave-Records", "0")
		c.get("info/collection_usage").expect(http.StatusOK, `{}`)
		c.get("info/quota").expect(http.StatusOK, `[0.0,5120]`)
	})
}

func TestInfoReportsCollections(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/bookmarks/a", `{"payload":"`+strings.Repeat("b", 1000)+`"}`).expect(http.StatusOK, "1300000000.00")
		e.clock.Advance(1500 * time.Millisecond)
		c.post("storage/history", records("h", 2, 512)).expectStatus(http.StatusOK)
		e.clock.Advance(time.Second)
		c.put("storage/forms/f", `{"payload":"`+strings.Repeat("f", 100)+`","ttl":10}`).expect(http.StatusOK, "1300000002.50")

		c.get("info/collections").
			expect(http.StatusOK, `{"bookmarks":1300000000.00,"forms":1300000002.50,"history":1300000001.50}`).
			expectHeader("X-Weave-Records", "3")
		c.get("info/collection_counts").
			expect(http.StatusOK, `{"bookmarks":1,"forms":1,"history":2}`).
			expectHeader("X-Weave-Records", "3")
		c.get("info/collection_usage").
			expect(http.StatusOK, `{"bookmarks":0.9765625,"forms":0.09765625,"history":1.0}`)
		c.get("info/quota").expect(http.StatusOK, `[2.07421875,5120]`)

		// Expired records leave counts and usage but still date their
		// collection (docs/protocol.md §5.4).
		e.clock.Advance(11 * time.Second)
		c.get("info/collections").
			expect(http.StatusOK, `{"bookmarks":1300000000.00,"forms":1300000002.50,"history":1300000001.50}`)
		c.get("info/collection_counts").expect(http.StatusOK, `{"bookmarks":1,"history":2}`)
		c.get("info/collection_usage").expect(http.StatusOK, `{"bookmarks":0.9765625,"history":1.0}`)
		c.get("info/quota").expect(http.StatusOK, `[1.9765625,5120]`)

		// Metrics parameters are ignored; info is JSON whatever Accept says.
		c.get("info/collections?client=FxHome&v=1.1b2", header("Accept", "application/newlines")).
			expect(http.StatusOK, `{"bookmarks":1300000000.00,"forms":1300000002.50,"history":1300000001.50}`).
			expectHeader("Content-Type", "application/json")
		c.get("info/collection_counts", header("Accept", "application/whoisi")).
			expect(http.StatusOK, `{"bookmarks":1,"history":2}`).
			expectHeader("Content-Type", "application/json")
	})
}

func TestInfoQuotaWithoutQuota(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.QuotaBytes = 0 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/bookmarks/a", `{"payload":"`+strings.Repeat("b", 512)+`"}`).expectStatus(http.StatusOK)
		c.get("info/quota").expect(http.StatusOK, `[0.5,null]`)
	})
}

func TestInfoIsPerUser(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		alice.mustPut("storage/bookmarks/a", `{"payload":"x"}`)
		bob.get("info/collections").expect(http.StatusOK, `{}`)
		bob.get("storage/bookmarks").expectJSON(http.StatusOK, `[]`)
		bob.get("storage/bookmarks/a").expectStatus(http.StatusNotFound)
	})
}
