package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// record runs fn on a recorder and returns what it answered, checked for
// the X-Weave-Timestamp every answer carries.
func record(t *testing.T, fn func(w http.ResponseWriter)) *resp {
	t.Helper()
	w := httptest.NewRecorder()
	fn(w)
	res := &resp{t: t, code: w.Code, header: w.Result().Header, body: w.Body.String()}
	if ts := res.header.Get("X-Weave-Timestamp"); !timestampText.MatchString(ts) {
		t.Errorf("X-Weave-Timestamp %q is not a two-decimal timestamp", ts)
	}
	return res
}

// TestUnavailableAnswer: the 503 a router gives for a user it cannot
// serve now is the handler's own, with the back-off it is given.
func TestUnavailableAnswer(t *testing.T) {
	e := newEnv(t, backends[0], nil)
	record(t, func(w http.ResponseWriter) { e.h.Unavailable(w, 3*time.Second, "account migration in progress") }).
		expect(http.StatusServiceUnavailable, `"server issue: account migration in progress"`).
		expectHeader("Content-Type", "application/json").
		expectHeader("Content-Length", "45").
		expectHeader("Retry-After", "3").
		expectHeader("X-Weave-Backoff", "3")
	// Clients count in whole seconds; less than one would mean "now".
	record(t, func(w http.ResponseWriter) { e.h.Unavailable(w, 0, "x") }).
		expectHeader("Retry-After", "1").
		expectHeader("X-Weave-Backoff", "1")
}

// TestServeNodeURL: node/weave for a user served from elsewhere names
// this server, as for a native user, without a lookup.
func TestServeNodeURL(t *testing.T) {
	e := newEnv(t, backends[0], nil)
	r := httptest.NewRequest(http.MethodGet, "/user/1.0/nobody/node/weave", nil)
	record(t, func(w http.ResponseWriter) { e.h.ServeNodeURL(w, r) }).
		expect(http.StatusOK, "https://sync.example.com/").
		expectHeader("Content-Type", "text/plain; charset=utf-8")

	e = newEnv(t, backends[0], func(c *httpapi.Config) { c.PublicURL = "" })
	record(t, func(w http.ResponseWriter) { e.h.ServeNodeURL(w, r) }).
		expect(http.StatusOK, "http://example.com/")
	r.Host = ""
	record(t, func(w http.ResponseWriter) { e.h.ServeNodeURL(w, r) }).
		expect(http.StatusOK, "null").
		expectHeader("Content-Type", "application/json")
}
