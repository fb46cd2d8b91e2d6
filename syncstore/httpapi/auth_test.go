package httpapi_test

import (
	"net/http"
	"testing"
	"time"
)

func TestStorageNeedsBasicAuth(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		e.addUser("bob", "password-bob")
		c.mustPut("storage/bookmarks/a", `{"payload":"x"}`)
		unauthorized := func(r *resp) {
			t.Helper()
			r.expect(http.StatusUnauthorized, "authentication failed").
				expectHeader("WWW-Authenticate", `Basic realm="Sync"`).
				expectHeader("Content-Type", "text/plain; charset=utf-8")
		}
		paths := []struct{ method, path string }{
			{http.MethodGet, "/1.1/alice/info/collections"},
			{http.MethodGet, "/1.1/alice/info/collection_counts"},
			{http.MethodGet, "/1.1/alice/info/collection_usage"},
			{http.MethodGet, "/1.1/alice/info/quota"},
			{http.MethodGet, "/1.1/alice/storage/bookmarks"},
			{http.MethodGet, "/1.1/alice/storage/bookmarks/a"},
			{http.MethodPut, "/1.1/alice/storage/bookmarks/a"},
			{http.MethodPost, "/1.1/alice/storage/bookmarks"},
			{http.MethodDelete, "/1.1/alice/storage/bookmarks"},
			{http.MethodDelete, "/1.1/alice/storage/bookmarks/a"},
			{http.MethodDelete, "/1.1/alice/storage"},
			{http.MethodGet, "/1.1/alice/storage/bad$name"}, // auth comes before the collection check
		}
		for _, p := range paths {
			unauthorized(e.do(p.method, p.path, `{"payload":"y"}`))
			unauthorized(e.do(p.method, p.path, `{"payload":"y"}`, basicAuth("alice", "wrong")))
			unauthorized(e.do(p.method, p.path, `{"payload":"y"}`, basicAuth("bob", "password-bob")))
		}
		for _, h := range []string{
			"Bearer abc",
			"Basic !!!not-base64",
			basic("alice"), // no colon
			basic(":password-alice"),
			basic("alice:password-alice\xff"), // invalid UTF-8 password
			"Digest username=alice",
		} {
			unauthorized(e.do(http.MethodGet, "/1.1/alice/info/collections", "", rawAuthorization(h)))
		}
		// Unknown user: same answer as a wrong password.
		unauthorized(e.do(http.MethodGet, "/1.1/nobody/info/collections", "", basicAuth("nobody", "whatever1")))
		// Nothing was written by the refused requests. The wrong passwords
		// throttled alice's logins for a second (throttle.go).
		e.clock.Advance(time.Second)
		c.get("storage/bookmarks/a").expectJSON(http.StatusOK, `{"id":"a","modified":1300000000.00,"payload":"x"}`)
	})
}

func TestAuthUsernameCaseAndColons(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		e.addUser("alice", "pass:with:colons")
		// URL and credential names compare case-insensitively.
		e.do(http.MethodGet, "/1.1/Alice/info/collections", "", basicAuth("alice", "pass:with:colons")).
			expectJSON(http.StatusOK, `{}`)
		e.do(http.MethodGet, "/1.1/alice/info/collections", "", basicAuth("ALICE", "pass:with:colons")).
			expectJSON(http.StatusOK, `{}`)
		// The password is everything after the first colon.
		e.do(http.MethodGet, "/1.1/alice/info/collections", "", rawAuthorization(basic("alice:pass:with:colons"))).
			expectJSON(http.StatusOK, `{}`)
		e.do(http.MethodGet, "/1.1/alice/info/collections", "", basicAuth("alice", "pass:with")).
			expectStatus(http.StatusUnauthorized)
	})
}

func TestBadCollectionNameIs400(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		long := "c234567890123456789012345678901234" // 33 characters
		for _, p := range []string{"storage/bad$name", "storage/bad%20name", "storage/" + long, "storage/bad%2Fname", "storage/caf%C3%A9"} {
			c.get(p).expect(http.StatusBadRequest, "13")
			c.post(p, `[]`).expect(http.StatusBadRequest, "13")
			c.del(p).expect(http.StatusBadRequest, "13")
			c.get(p+"/id").expect(http.StatusBadRequest, "13")
			c.put(p+"/id", `{"payload":"x"}`).expect(http.StatusBadRequest, "13")
			c.del(p+"/id").expect(http.StatusBadRequest, "13")
		}
		c.get("info/collections").expectJSON(http.StatusOK, `{}`)
	})
}
