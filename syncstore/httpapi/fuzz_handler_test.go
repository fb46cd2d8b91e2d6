package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/net/http/httpguts"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// fuzzUsers are the accounts every fuzz input can address; their
// passwords are restored after each input, so a fuzzed password change or
// account deletion does not starve the inputs that follow.
var fuzzUsers = map[string]string{"alice": "password-alice", "bob": "password-bob"}

// fuzzEnv is one handler over SQLite with a log observer, shared by the
// inputs a fuzz worker runs.
type fuzzEnv struct {
	*env
	logs *observer.ObservedLogs
}

func newFuzzEnv(f *testing.F, mutate ...func(*httpapi.Config)) *fuzzEnv {
	core, logs := observer.New(zapcore.DebugLevel)
	e := newEnv(f, backend{"sqlite", openSQLite}, func(c *httpapi.Config) {
		c.Logger = zap.New(core)
		for _, m := range mutate {
			m(c)
		}
	})
	fe := &fuzzEnv{env: e, logs: logs}
	for name, pw := range fuzzUsers {
		e.addUser(name, pw)
	}
	return fe
}

// restoreUsers puts back the accounts and passwords the last input may
// have deleted or changed.
func (fe *fuzzEnv) restoreUsers(t *testing.T) {
	ctx := context.Background()
	for name, pw := range fuzzUsers {
		u, err := fe.store.LookupUser(ctx, name)
		if errors.Is(err, syncstore.ErrNotFound) {
			hash, err := fe.auth.HashPassword(pw)
			if err != nil {
				t.Fatal(err)
			}
			u = &syncstore.User{Name: name, PasswordHash: hash}
			if err := fe.store.CreateUser(ctx, u); err != nil {
				t.Fatalf("recreating %s: %v", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("looking up %s: %v", name, err)
		}
		if _, err := fe.auth.Authenticate(ctx, name, pw); err != nil {
			if err := fe.auth.SetPassword(ctx, u, pw); err != nil {
				t.Fatalf("restoring the password of %s: %v", name, err)
			}
		}
	}
}

// credentialsValid is the oracle for authentication: the request's Basic
// credentials name the URL's user and carry that user's current password.
func (fe *fuzzEnv) credentialsValid(r *http.Request) bool {
	name, pw, ok := r.BasicAuth()
	if !ok || !utf8.ValidString(name) || !utf8.ValidString(pw) {
		return false
	}
	q := httpapi.ParseRequest(r)
	user := q.User()
	if user == "" || syncstore.NormalizeUsername(name) != user {
		return false
	}
	_, err := fe.auth.Authenticate(context.Background(), user, pw)
	return err == nil
}

// needsAuth lists the endpoints that must never succeed without the URL
// user's credentials.
func needsAuth(endpoint string) bool {
	switch endpoint {
	case "user.delete", "user.email", "user.password", "user.password_reset.delete":
		return true
	}
	return strings.HasPrefix(endpoint, "storage.")
}

var fuzzMethods = []string{"GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"}

// serve runs one request and checks what every response must satisfy
// whatever the input: no 500, no 503 from a healthy store, nothing
// logged at error level, a well-formed timestamp and length, bodies that
// parse as their content type says, and no success without the right
// credentials.
func (fe *fuzzEnv) serve(t *testing.T, r *http.Request) *httptest.ResponseRecorder {
	q := httpapi.ParseRequest(r)
	endpoint := q.Endpoint().String()
	valid := fe.credentialsValid(r)
	fe.logs.TakeAll()
	w := httptest.NewRecorder()
	fe.h.ServeHTTP(w, r)
	desc := r.Method + " " + r.URL.String()
	body := w.Body.Bytes()
	// The inputs share one handler whose clock stands still, so the
	// fuzzer's wrong passwords throttle alice and the test's address for
	// good: a throttled login is refused whatever its password (401 with
	// Retry-After, or 503 for the address), as documented.
	throttled := (w.Code == http.StatusUnauthorized && w.Header().Get("Retry-After") != "") ||
		(w.Code == http.StatusServiceUnavailable && bytes.Equal(body, []byte(`"server issue: too many failed logins"`)))
	switch {
	case w.Code == http.StatusInternalServerError:
		t.Fatalf("%s: 500 %q", desc, body)
	case w.Code == http.StatusServiceUnavailable && endpoint != "user.password_reset" && !throttled:
		t.Fatalf("%s: 503 %q from a healthy store (logs %v)", desc, body, fe.logs.All())
	}
	for _, entry := range fe.logs.All() {
		if entry.Level >= zapcore.ErrorLevel {
			t.Fatalf("%s: logged %q %v", desc, entry.Message, entry.ContextMap())
		}
	}
	if ts := w.Header().Get("X-Weave-Timestamp"); !timestampText.MatchString(ts) {
		t.Fatalf("%s: X-Weave-Timestamp %q", desc, ts)
	}
	if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Fatalf("%s: Content-Length %q for %d bytes", desc, cl, len(body))
	}
	switch ct := w.Header().Get("Content-Type"); ct {
	case "application/json":
		if !json.Valid(body) {
			t.Fatalf("%s: application/json body %q", desc, body)
		}
	case "application/newlines":
		if len(body) > 0 && body[len(body)-1] != '\n' {
			t.Fatalf("%s: newlines body does not end in a newline: %q", desc, body)
		}
		for _, line := range bytes.SplitAfter(body, []byte("\n")) {
			if len(line) > 0 && !json.Valid(line) {
				t.Fatalf("%s: newlines record %q", desc, line)
			}
		}
	}
	if needsAuth(endpoint) {
		if w.Code < 300 && !valid {
			t.Fatalf("%s: %d %q without valid credentials", desc, w.Code, body)
		}
		if w.Code == http.StatusUnauthorized && valid && !throttled {
			t.Fatalf("%s: 401 with valid credentials", desc)
		}
	}
	return w
}

// newFuzzRequest builds a request for target (path and query) the way
// net/http's server would hand it over, or nil for a target no HTTP
// server would accept.
func newFuzzRequest(method, target, header string, body []byte) *http.Request {
	u, err := url.ParseRequestURI(target)
	if err != nil || u.Host != "" || u.Scheme != "" || strings.ContainsAny(target, " \r\n\x00") {
		return nil
	}
	r := httptest.NewRequest(method, "/", bytes.NewReader(body))
	r.URL, r.RequestURI, r.Host = u, target, "sync.example.com"
	for _, line := range strings.Split(header, "\n") {
		name, value, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		value = strings.TrimSpace(value)
		if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
			continue
		}
		r.Header.Add(name, value)
	}
	return r
}

// FuzzHandler sends arbitrary method, path, query, headers and body
// through the handler, with and without the right credentials.
func FuzzHandler(f *testing.F) {
	alice := basic("alice:password-alice")
	bob := basic("bob:password-bob")
	type seed struct {
		method        uint8
		target, extra string
		body          string
	}
	for _, s := range []seed{
		{0, "/1.1/alice/info/collections?client=x", "Authorization: " + alice, ""},
		{0, "/1.1/alice/info/collections", "Authorization: " + bob, ""},
		{0, "/1.1/alice/info/quota", "Authorization: " + alice, ""},
		{0, "/1.1/alice/info/collection_usage", "Authorization: " + alice, ""},
		{1, "/1.1/alice/storage/bookmarks/a", "Authorization: " + alice, `{"payload":"x","sortindex":3,"ttl":60,"parentid":"p"}`},
		{1, "/1.1/alice/storage/bookmarks/a", "Authorization: " + alice + "\nX-If-Unmodified-Since: 1.5", `{"payload":"x"}`},
		{2, "/1.1/alice/storage/history", "Authorization: " + alice, `[{"id":"a","payload":"p"},{"id":"b","ttl":-1},{"id":"c/d"}]`},
		{2, "/1.1/alice/storage/history", "Authorization: " + alice, `{"id":"single","payload":"p"}`},
		{0, "/1.1/alice/storage/history?full=1&newer=1&sort=index&limit=2&offset=1", "Authorization: " + alice + "\nAccept: application/newlines", ""},
		{0, "/1.1/alice/storage/history?ids=a,b&full=1", "Authorization: " + alice + "\nAccept: application/whoisi", ""},
		{0, "/1.1/alice/storage/history?parentid=p&predecessorid=q&index_above=1&index_below=9&older=2e9", "Authorization: " + alice, ""},
		{3, "/1.1/alice/storage/history?ids=a", "Authorization: " + alice, ""},
		{3, "/1.1/alice/storage", "Authorization: " + alice + "\nX-Confirm-Delete: 1", ""},
		{3, "/1.1/alice/storage/history/a", "Authorization: " + alice, ""},
		{0, "/1.1/alice/storage/bad$name", "Authorization: " + alice, ""},
		{0, "/user/1.0/alice", "", ""},
		{1, "/user/1.0/carol", "", `{"password":"secret-carol","email":"carol@example.com"}`},
		{0, "/user/1.0/alice/node/weave", "", ""},
		{2, "/user/1.0/alice/password", "Authorization: " + alice, "new-password-alice"},
		{2, "/user/1.0/alice/email", "Authorization: " + alice, "alice2@example.com"},
		{3, "/user/1.0/alice", "Authorization: " + alice, ""},
		{0, "/user/1.0/alice/password_reset", "", ""},
		{3, "/user/1.0/alice/password_reset", "Authorization: " + alice, ""},
		{4, "/__heartbeat__", "", ""},
		{5, "/misc/1.0/captcha_html", "", ""},
		{6, "/1.1/alice/storage/history", "Authorization: " + alice, "[]"},
		{1, "//1.0/alice//storage/bookmarks//b/", "Authorization: " + alice, `{"payload":"x"}`},
	} {
		f.Add(s.method, s.target, s.extra, []byte(s.body))
	}
	fe := newFuzzEnv(f)
	f.Fuzz(func(t *testing.T, method uint8, target, header string, body []byte) {
		r := newFuzzRequest(fuzzMethods[int(method)%len(fuzzMethods)], target, header, body)
		if r == nil {
			return
		}
		fe.serve(t, r)
		fe.restoreUsers(t)
	})
}

// FuzzBasicAuth sends arbitrary Authorization headers: only alice's exact
// credentials (name in any case) may read alice's data, everything else
// is 401 with the challenge.
func FuzzBasicAuth(f *testing.F) {
	// Wrong passwords first, more than the throttle's default limit: a
	// worker that starts this way must still accept alice's own password.
	for i := range httpapi.DefaultThrottlePerUser + 2 {
		f.Add(basic("alice:wrong-" + strconv.Itoa(i)))
	}
	for _, s := range []string{
		basic("alice:password-alice"), basic("ALICE:password-alice"), basic("alice:password-alicE"),
		basic("bob:password-bob"), basic("alice:password-alice:"), basic("alice"), basic(":password-alice"),
		"basic " + basic("alice:password-alice")[6:], "Basic  " + basic("alice:password-alice")[6:],
		"Basic", "Basic ", "Bearer x", "Basic !!!", basic("alice:password-alice\xff"), basic("alice\x00:password-alice"),
		basic("alice@example.com:password-alice"), basic("alice:" + strings.Repeat("x", 100)),
	} {
		f.Add(s)
	}
	// Without the login throttle: its clock stands still, so a worker
	// whose first inputs are wrong passwords for alice would throttle her
	// for good, and her right password would then get the throttled 401
	// (throttle_test.go covers that). This target checks only which
	// credentials are alice's.
	fe := newFuzzEnv(f, func(c *httpapi.Config) {
		c.AuthThrottle = httpapi.AuthThrottleConfig{PerUser: -1, PerAddress: -1}
	})
	f.Fuzz(func(t *testing.T, authorization string) {
		if !httpguts.ValidHeaderFieldValue(authorization) {
			return // not a header value an HTTP server passes on
		}
		r := newFuzzRequest("GET", "/1.1/alice/info/collections", "", nil)
		r.Header.Set("Authorization", authorization)
		w := fe.serve(t, r)
		want := http.StatusUnauthorized
		if isAlice(authorization) {
			want = http.StatusOK
		}
		if w.Code != want {
			t.Fatalf("Authorization %q: %d %q, want %d", authorization, w.Code, w.Body, want)
		}
		if want == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") != `Basic realm="Sync"` {
			t.Fatalf("Authorization %q: 401 without the Basic challenge", authorization)
		}
	})
}

// isAlice decodes a Basic credential independently of net/http (RFC 7617:
// case-insensitive scheme, standard base64, split at the first colon) and
// reports whether it is alice's.
func isAlice(authorization string) bool {
	const scheme = "basic "
	if len(authorization) < len(scheme) || strings.ToLower(authorization[:len(scheme)]) != scheme {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(authorization[len(scheme):])
	if err != nil {
		return false
	}
	name, password, ok := strings.Cut(string(raw), ":")
	return ok && utf8.ValidString(name) && strings.ToLower(name) == "alice" && password == fuzzUsers["alice"]
}
