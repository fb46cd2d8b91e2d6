package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// TestRepeatedSlashesAreOne: a path with doubled slashes, which Mozilla's
// test client builds from a node URL ending in "/" and which the web
// servers in front of the legacy servers merged, is served as the path
// with single slashes (docs/protocol.md §13).
func TestRepeatedSlashesAreOne(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		auth := basicAuth(c.name, c.password)
		e.do(http.MethodPut, "//1.0/alice/storage/bookmarks/a", `{"payload":"x"}`, auth).expect(http.StatusOK, "1300000000.00")
		for _, p := range []string{
			"//1.0/alice/storage/bookmarks/a",
			"/1.0//alice/storage/bookmarks/a",
			"//1.1//alice//storage//bookmarks//a//",
			"///1/alice/storage///bookmarks/a",
		} {
			e.do(http.MethodGet, p, "", auth).expectJSON(http.StatusOK, `{"id":"a","modified":1300000000.00,"payload":"x"}`)
		}
		e.do(http.MethodGet, "//1.1/alice/info//collections", "", auth).expectJSON(http.StatusOK, `{"bookmarks":1300000000.00}`)
		e.do(http.MethodGet, "//user/1.0//alice", "").expect(http.StatusOK, "1")
		e.do(http.MethodGet, "//user//1.0/alice//node/weave", "").expect(http.StatusOK, "https://sync.example.com/")
		e.do(http.MethodGet, "//__heartbeat__", "").expect(http.StatusOK, "")
		// Merging makes no route out of a path that has none.
		e.do(http.MethodGet, "//1.1/alice//storage/bookmarks/a/extra", "", auth).expect(http.StatusNotFound, "not found")
		e.do(http.MethodGet, "//", "").expect(http.StatusNotFound, "not found")
	})
}

// TestParseMergesSlashes: the parsed request (endpoint, user, collection,
// id) is the same with and without repeated slashes, so a router in
// front of the handler decides as the handler serves.
func TestParseMergesSlashes(t *testing.T) {
	for _, tc := range []struct{ method, path, merged string }{
		{"GET", "//1.0/Alice/storage/bookmarks/a", "/1.0/Alice/storage/bookmarks/a"},
		{"PUT", "/1.1//alice/storage//tabs/b%2Fc", "/1.1/alice/storage/tabs/b%2Fc"},
		{"GET", "//1.1/alice/foo/bar", "/1.1/alice/foo/bar"},
		{"GET", "/user//1.0//bob//node/weave/", "/user/1.0/bob/node/weave/"},
		{"PUT", "//user/1.0/bob", "/user/1.0/bob"},
		{"GET", "//misc/1.0/captcha_html", "/misc/1.0/captcha_html"},
		{"GET", "//1.1/bad!name/storage", "/1.1/bad!name/storage"},
	} {
		got := httpapi.Parse(tc.method, tc.path)
		want := httpapi.Parse(tc.method, tc.merged)
		if got != want {
			t.Errorf("%s %s parses as %+v, %s as %+v", tc.method, tc.path, got, tc.merged, want)
		}
		r := httpapi.MergeSlashes(httptest.NewRequest(tc.method, tc.path, nil))
		if p := r.URL.EscapedPath(); p != tc.merged {
			t.Errorf("MergeSlashes(%s) = %s, want %s", tc.path, p, tc.merged)
		}
		if r.RequestURI != tc.merged {
			t.Errorf("MergeSlashes(%s): RequestURI %s, want %s", tc.path, r.RequestURI, tc.merged)
		}
	}
	q := httpapi.Parse("GET", "//1.0/Alice//storage/bookmarks//a")
	if q.Endpoint() != httpapi.EndpointItemGet || q.User() != "alice" || !q.HasUserSegment() || q.Collection() != "bookmarks" || q.ID() != "a" {
		t.Errorf("parsed %+v", q)
	}
	r := httptest.NewRequest("GET", "/1.1/alice/info/collections?x=1", nil)
	if httpapi.MergeSlashes(r) != r {
		t.Error("MergeSlashes copied a request without repeated slashes")
	}
	r = httpapi.MergeSlashes(httptest.NewRequest("GET", "//1.1/alice/info/collections?x=1", nil))
	if r.RequestURI != "/1.1/alice/info/collections?x=1" || r.URL.RawQuery != "x=1" {
		t.Errorf("query lost: RequestURI %q, RawQuery %q", r.RequestURI, r.URL.RawQuery)
	}
}
