package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIsolation tries every authenticated storage and User API endpoint
// of alice with bob's valid credentials and with near misses of alice's
// own, under every spelling of alice's URL: each is 401, the body shows
// nothing of alice's, and neither account changes.
func TestIsolation(t *testing.T) {
	withSecurityEnv(t, func(t *testing.T, e *env) {
		alice := e.user("alice")
		bob := e.user("bob")
		alice.mustPut("storage/bookmarks/a1", `{"payload":"alice-secret-1","sortindex":5,"parentid":"alice-parent"}`)
		alice.post("storage/history", `[{"id":"h1","payload":"alice-secret-2","ttl":3600},{"id":"h2","payload":"alice-secret-3"}]`).expectStatus(http.StatusOK)
		bob.mustPut("storage/bookmarks/b1", `{"payload":"bob-data"}`)
		secrets := []string{"alice-secret", "alice-parent", `"a1"`, `"h1"`, "bookmarks", "history"}

		aliceBefore, bobBefore, tablesBefore := e.state("alice"), e.state("bob"), e.tables()

		type call struct {
			method, path, body string
			opts               []reqOpt
		}
		storage := []call{
			{method: http.MethodGet, path: "info/collections"},
			{method: http.MethodGet, path: "info/collection_counts"},
			{method: http.MethodGet, path: "info/collection_usage"},
			{method: http.MethodGet, path: "info/quota"},
			{method: http.MethodGet, path: "storage/bookmarks"},
			{method: http.MethodGet, path: "storage/bookmarks?full=1", opts: []reqOpt{header("Accept", "application/newlines")}},
			{method: http.MethodGet, path: "storage/history?ids=h1,h2&full=1", opts: []reqOpt{header("Accept", "application/whoisi")}},
			{method: http.MethodGet, path: "storage/bookmarks/a1"},
			{method: http.MethodPut, path: "storage/bookmarks/a1", body: `{"payload":"evil"}`},
			{method: http.MethodPut, path: "storage/evil/x", body: `{"payload":"evil"}`},
			{method: http.MethodPost, path: "storage/bookmarks", body: `[{"id":"a1","payload":"evil"},{"id":"new","payload":"evil"}]`},
			{method: http.MethodPut, path: "storage/bookmarks", body: `[{"id":"a1","payload":"evil"}]`},
			{method: http.MethodPost, path: "storage/bookmarks", body: `{"id":"a1","payload":"evil"}`},
			{method: http.MethodDelete, path: "storage/bookmarks"},
			{method: http.MethodDelete, path: "storage/history?ids=h1"},
			{method: http.MethodDelete, path: "storage/bookmarks/a1", opts: []reqOpt{header("X-If-Unmodified-Since", "9999999999")}},
			{method: http.MethodDelete, path: "storage", opts: []reqOpt{header("X-Confirm-Delete", "1")}},
			{method: http.MethodGet, path: "storage/bad$name"},
		}
		userAPI := []call{
			{method: http.MethodDelete, path: ""},
			{method: http.MethodPost, path: "/password", body: "evil-password-1"},
			{method: http.MethodPost, path: "/email", body: "evil@example.com"},
			{method: http.MethodDelete, path: "/password_reset"},
		}
		credentials := []string{
			basic("bob:password-bob"),
			basic("BOB:password-bob"),
			basic("alice:password-bob"),
			basic("alice:"),
			basic("alice:password-alice "),
			basic("alice:PASSWORD-ALICE"),
			basic("alice:password-alic"),
			basic("alice\x00:password-alice"),
		}
		storageRoots := []string{"/1.1/alice/", "/1.0/alice/", "/1/alice/", "/1.1/ALICE/", "/1.1/%61lice/"}
		userRoots := []string{"/user/1.0/alice", "/user/1/alice", "/user/1.0/Alice", "/user/1.0/%61lice"}

		tried := 0
		check := func(method, target, body string, opts []reqOpt, cred string) {
			t.Helper()
			tried++
			r := e.do(method, target, body, append([]reqOpt{rawAuthorization(cred)}, opts...)...)
			r.expect(http.StatusUnauthorized, "authentication failed")
			r.expectHeader("WWW-Authenticate", `Basic realm="Sync"`)
			r.expectHeader("X-Weave-Records", "")
			for _, s := range secrets {
				if strings.Contains(r.body, s) {
					t.Errorf("%s %s with %q: the body shows %q", method, target, cred, s)
				}
			}
		}
		for _, cred := range credentials {
			for _, root := range storageRoots {
				for _, c := range storage {
					check(c.method, root+c.path, c.body, c.opts, cred)
				}
			}
			for _, root := range userRoots {
				for _, c := range userAPI {
					check(c.method, root+c.path, c.body, c.opts, cred)
				}
			}
		}
		// The unauthenticated User API calls say whether alice exists and
		// where her node is (public by protocol), and nothing else.
		bobAuth := basicAuth("bob", "password-bob")
		e.do(http.MethodGet, "/user/1.0/alice", "", bobAuth).expect(http.StatusOK, "1")
		e.do(http.MethodGet, "/user/1.0/alice/node/weave", "", bobAuth).expect(http.StatusOK, "https://sync.example.com/")
		e.do(http.MethodPut, "/user/1.0/alice", `{"password":"evil-password-2","email":"alice@example.com"}`, bobAuth).expect(http.StatusBadRequest, "4")

		if got := e.state("alice"); got != aliceBefore {
			t.Errorf("alice's account changed:\nbefore %s\nafter  %s", aliceBefore, got)
		}
		if got := e.state("bob"); got != bobBefore {
			t.Errorf("bob's account changed:\nbefore %s\nafter  %s", bobBefore, got)
		}
		for table, n := range e.tables() {
			if tablesBefore[table] != n {
				t.Errorf("table %s: %d rows, was %d", table, n, tablesBefore[table])
			}
		}
		// The same requests with alice's credentials do reach her data, so
		// the refusals above were not for another reason, once the
		// throttle the wrong passwords started has run out (throttle.go).
		e.clock.Advance(time.Second)
		alice.get("storage/bookmarks/a1").expectStatus(http.StatusOK)
		e.do(http.MethodGet, "/1.1/ALICE/storage/history?full=1", "", basicAuth("Alice", "password-alice")).expectStatus(http.StatusOK)
		e.do(http.MethodDelete, "/user/1.0/alice/password_reset", "", basicAuth("alice", "password-alice")).expect(http.StatusOK, "success")
		t.Logf("%d requests with wrong credentials refused", tried)
	})
}
