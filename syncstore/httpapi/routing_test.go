package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func TestHeartbeat(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		for _, m := range []string{http.MethodGet, http.MethodHead} {
			e.do(m, "/__heartbeat__", "").expect(http.StatusOK, "").
				expectHeader("Content-Type", "text/plain; charset=utf-8")
		}
		e.do(http.MethodGet, "/__heartbeat__/", "").expect(http.StatusOK, "")
		e.do(http.MethodPost, "/__heartbeat__", "").expectStatus(http.StatusMethodNotAllowed).
			expectHeader("Allow", "GET, HEAD")
	})
}

func TestUnknownPathsAre404(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		for _, p := range []string{
			"/",
			"/2.0/alice/info/collections",
			"/1.2/alice/storage/bookmarks",
			"/1.1/alice",
			"/1.1/alice/",
			"/1.1/alice/info",
			"/1.1/alice/info/bogus",
			"/1.1/alice/foo",
			"/1.1/alice/storage/bookmarks/item/extra",
			"/1.1/al%20ice/info/collections",
			"/1.1/" + "a234567890123456789012345678901234" + "/info/collections", // 33 characters
			"/1.1/alice@example.com/info/collections",
			"/user/2.0/alice",
			"/user/1.1/alice",
			"/user/1.0/alice/node",
			"/user/1.0/alice/node/other",
			"/user/1.0/alice/bogus",
			"/user/1.0/bad!name",
			"/misc/1.0/captcha_html", // captcha is off
			"/misc/1.0/other",
			"/weave-password-reset",
			"/__debug__",
		} {
			for _, m := range []string{http.MethodGet, http.MethodDelete} {
				e.do(m, p, "", basicAuth(c.name, c.password)).expect(http.StatusNotFound, "not found")
			}
		}
		e.do(http.MethodPost, "/weave-password-reset", "username=alice").expect(http.StatusNotFound, "not found")
	})
}

func TestVersionsAreIdentical(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/bookmarks/a", `{"payload":"x"}`)
		for _, v := range []string{"1.0", "1", "1.1"} {
			e.do(http.MethodGet, "/"+v+"/alice/storage/bookmarks/a", "", basicAuth(c.name, c.password)).
				expectJSON(http.StatusOK, `{"id":"a","modified":1300000000.00,"payload":"x"}`)
		}
		for _, v := range []string{"1.0", "1"} {
			e.do(http.MethodGet, "/user/"+v+"/alice", "").expect(http.StatusOK, "1")
		}
	})
}

func TestWrongMethodIs405(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.Captcha = testCaptchaConfig("http://127.0.0.1:1/verify") }, func(t *testing.T, e *env) {
		c := e.user("alice")
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodPost, "/1.1/alice/info/collections", "GET"},
			{http.MethodHead, "/1.1/alice/info/quota", "GET"},
			{http.MethodGet, "/1.1/alice/storage", "DELETE, PUT"},
			{http.MethodPost, "/1.1/alice/storage", "DELETE, PUT"},
			{http.MethodHead, "/1.1/alice/storage/bookmarks", "DELETE, GET, POST, PUT"},
			{http.MethodPatch, "/1.1/alice/storage/bookmarks", "DELETE, GET, POST, PUT"},
			{http.MethodPost, "/1.1/alice/storage/bookmarks/a", "DELETE, GET, PUT"},
			{http.MethodOptions, "/1.1/alice/storage/bookmarks/a", "DELETE, GET, PUT"},
			{http.MethodPost, "/user/1.0/alice", "DELETE, GET, PUT"},
			{http.MethodPut, "/user/1.0/alice/node/weave", "GET"},
			{http.MethodGet, "/user/1.0/alice/password", "POST"},
			{http.MethodPost, "/user/1.0/alice/password_reset", "DELETE, GET"},
			{http.MethodGet, "/user/1.0/alice/email", "POST"},
			{http.MethodPut, "/misc/1.0/captcha_html", "GET, POST"},
		} {
			e.do(tc.method, tc.path, "", basicAuth(c.name, c.password)).
				expect(http.StatusMethodNotAllowed, "method not allowed").
				expectHeader("Allow", tc.allow)
		}
	})
}

func TestTrailingSlashIsStripped(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.put("storage/bookmarks/a/", `{"payload":"x"}`).expect(http.StatusOK, "1300000000.00")
		c.get("storage/bookmarks/").expectJSON(http.StatusOK, `["a"]`)
		c.get("storage/bookmarks/a/").expectJSON(http.StatusOK, `{"id":"a","modified":1300000000.00,"payload":"x"}`)
		c.get("info/collections/").expectJSON(http.StatusOK, `{"bookmarks":1300000000.00}`)
		e.do(http.MethodGet, "/user/1.0/alice/", "").expect(http.StatusOK, "1")
	})
}

func TestEndpointLabels(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/__heartbeat__", "heartbeat"},
		{"HEAD", "/__heartbeat__", "heartbeat"},
		{"GET", "/1.1/u/info/collections", "storage.info.collections"},
		{"GET", "/1.0/u/info/collection_counts", "storage.info.collection_counts"},
		{"GET", "/1/u/info/collection_usage", "storage.info.collection_usage"},
		{"GET", "/1.1/u/info/quota?x=1", "storage.info.quota"},
		{"GET", "/1.1/u/storage/bookmarks", "storage.collection.get"},
		{"POST", "/1.1/u/storage/bookmarks", "storage.collection.post"},
		{"PUT", "/1.1/u/storage/bookmarks", "storage.collection.post"},
		{"DELETE", "/1.1/u/storage/bookmarks/", "storage.collection.delete"},
		{"GET", "/1.1/u/storage/bookmarks/a%3Fb", "storage.item.get"},
		{"PUT", "/1.1/u/storage/bookmarks/a", "storage.item.put"},
		{"DELETE", "/1.1/u/storage/bookmarks/a", "storage.item.delete"},
		{"DELETE", "/1.1/u/storage", "storage.all.delete"},
		{"PUT", "/1.1/u/storage/", "storage.all.put"},
		{"GET", "/user/1.0/u", "user.exists"},
		{"PUT", "/user/1/u", "user.create"},
		{"DELETE", "/user/1.0/u", "user.delete"},
		{"GET", "/user/1.0/u/node/weave", "user.node"},
		{"POST", "/user/1.0/u/password", "user.password"},
		{"GET", "/user/1.0/u/password_reset", "user.password_reset"},
		{"DELETE", "/user/1.0/u/password_reset", "user.password_reset.delete"},
		{"POST", "/user/1.0/u/email", "user.email"},
		{"GET", "/misc/1.0/captcha_html", "misc.captcha"},
		{"GET", "/", "unknown"},
		{"GET", "/1.1/u/storage", "unknown"},
		{"HEAD", "/1.1/u/storage/bookmarks", "unknown"},
		{"GET", "/1.1/bad%20name/info/collections", "unknown"},
		{"GET", "/weave-password-reset", "unknown"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		q := httpapi.ParseRequest(r)
		if got := q.Endpoint().String(); got != tc.want {
			t.Errorf("Endpoint(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}

func TestPathUser(t *testing.T) {
	for _, tc := range []struct {
		path string
		user string
		ok   bool
	}{
		{"/1.1/alice/info/collections", "alice", true},
		{"/1.0/Alice/storage/bookmarks/x", "alice", true},
		{"/1/7qrzrjz52vgwen6e7w2y7v6xknd46wxt/storage", "7qrzrjz52vgwen6e7w2y7v6xknd46wxt", true},
		{"/1.1/bob", "bob", true},
		{"/1.1/b%6Fb/info/quota", "bob", true},
		{"/user/1.0/carol", "carol", true},
		{"/user/1/carol/node/weave", "carol", true},
		{"/user/1.0/Carol/password", "carol", true},
		{"/user/2.0/carol", "", false},
		{"/user/1.0", "", false},
		{"/2.0/alice/info/collections", "", false},
		{"/1.1/al ice/info", "", false},
		{"/1.1/", "", false},
		{"/misc/1.0/captcha_html", "", false},
		{"/__heartbeat__", "", false},
		{"/", "", false},
		{"", "", false},
	} {
		q := httpapi.Parse(http.MethodGet, tc.path)
		user, ok := q.User(), q.User() != ""
		if user != tc.user || ok != tc.ok {
			t.Errorf("Request.User(%q) = %q, %v; want %q, %v", tc.path, user, ok, tc.user, tc.ok)
		}
	}
}
