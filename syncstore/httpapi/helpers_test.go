package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// start is the fake clock's initial time: 1300000000.00 in protocol form.
var start = time.Unix(1_300_000_000, 0)

// fakeClock is shared by the store and the handler so tests can predict
// every timestamp and expire TTLs without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// ts formats the fake clock's current time as the protocol does.
func (c *fakeClock) ts() string {
	return syncstore.TimestampFromTime(c.Now()).String()
}

// backend opens a fresh, empty store of one kind.
type backend struct {
	name string
	open func(t testing.TB, clock func() time.Time) syncstore.Store
}

var backends = []backend{
	{"sqlite", openSQLite},
	{"mysql", openMySQL},
}

func openSQLite(t testing.TB, clock func() time.Time) syncstore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: t.TempDir(), Clock: clock})
	if err != nil {
		t.Fatalf("opening SQLite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openMySQL opens a store on a database named api_<random>, dropped when
// the test ends.
func openMySQL(t testing.TB, clock func() time.Time) syncstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: testservices.NewMySQLDatabase(t, "api_"), Clock: clock})
	if err != nil {
		t.Fatalf("opening MySQL store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// env is one handler over a fresh store.
type env struct {
	t     testing.TB
	h     *httpapi.Handler
	store syncstore.Store
	auth  *syncstore.Authenticator
	clock *fakeClock
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b) })
	}
}

// withEnv runs fn per backend with a fresh handler configured by mutate
// (which may be nil). The defaults are what the Caddy module passes: 5 MiB
// quota, open registration.
func withEnv(t *testing.T, mutate func(*httpapi.Config), fn func(t *testing.T, e *env)) {
	forEachBackend(t, func(t *testing.T, b backend) {
		fn(t, newEnv(t, b, mutate))
	})
}

func newEnv(t testing.TB, b backend, mutate func(*httpapi.Config)) *env {
	t.Helper()
	clock := newClock()
	store := b.open(t, clock.Now)
	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{
		Store:      store,
		Auth:       auth,
		Logger:     zap.NewNop(),
		Clock:      clock.Now,
		PublicURL:  "https://sync.example.com",
		QuotaBytes: 5 << 20,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := httpapi.New(cfg)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	return &env{t: t, h: h, store: store, auth: auth, clock: clock}
}

// addUser creates an account directly in the store.
func (e *env) addUser(name, password string) *syncstore.User {
	e.t.Helper()
	hash, err := e.auth.HashPassword(password)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &syncstore.User{Name: name, PasswordHash: hash, Email: name + "@example.com"}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatalf("creating user %s: %v", name, err)
	}
	return u
}

// user returns a client for a new account with a fixed password.
func (e *env) user(name string) *client {
	e.addUser(name, "password-"+name)
	return &client{e: e, name: name, password: "password-" + name}
}

type reqOpt func(*http.Request)

func basicAuth(user, password string) reqOpt {
	return func(r *http.Request) { r.SetBasicAuth(user, password) }
}

func header(name, value string) reqOpt {
	return func(r *http.Request) { r.Header.Set(name, value) }
}

// rawAuthorization sets an Authorization header verbatim.
func rawAuthorization(value string) reqOpt {
	return header("Authorization", value)
}

// resp is a recorded response.
type resp struct {
	t      testing.TB
	req    string
	code   int
	header http.Header
	body   string
}

var timestampText = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)

// do sends a request through the handler. Every response must carry a
// well-formed X-Weave-Timestamp (docs/protocol.md §4.1 decision), which is
// checked here once for all tests.
func (e *env) do(method, target, body string, opts ...reqOpt) *resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Header.Set("Content-Type", "text/plain") // what Firefox sends; it must not matter
	for _, o := range opts {
		o(r)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	res := &resp{t: e.t, req: method + " " + target, code: w.Code, header: w.Result().Header, body: w.Body.String()}
	if ts := res.header.Get("X-Weave-Timestamp"); !timestampText.MatchString(ts) {
		e.t.Errorf("%s: X-Weave-Timestamp %q is not a two-decimal timestamp", res.req, ts)
	}
	return res
}

// expect checks status and exact body.
func (r *resp) expect(code int, body string) *resp {
	r.t.Helper()
	if r.code != code || r.body != body {
		r.t.Errorf("%s: got %d %q, want %d %q", r.req, r.code, r.body, code, body)
	}
	return r
}

// expectStatus checks the status only.
func (r *resp) expectStatus(code int) *resp {
	r.t.Helper()
	if r.code != code {
		r.t.Errorf("%s: got status %d (body %q), want %d", r.req, r.code, r.body, code)
	}
	return r
}

// expectHeader checks one response header.
func (r *resp) expectHeader(name, value string) *resp {
	r.t.Helper()
	if got := r.header.Get(name); got != value {
		r.t.Errorf("%s: header %s = %q, want %q", r.req, name, got, value)
	}
	return r
}

// expectJSON compares the body with want as JSON values (order of object
// keys ignored), after checking status and Content-Type.
func (r *resp) expectJSON(code int, want string) *resp {
	r.t.Helper()
	if r.code != code {
		r.t.Errorf("%s: got status %d (body %q), want %d", r.req, r.code, r.body, code)
		return r
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		r.t.Errorf("%s: Content-Type %q, want application/json", r.req, ct)
	}
	var got, exp any
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		r.t.Errorf("%s: body %q is not JSON: %v", r.req, r.body, err)
		return r
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		r.t.Fatalf("bad expectation %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		r.t.Errorf("%s: body %s, want %s", r.req, r.body, want)
	}
	return r
}

// timestamp is the X-Weave-Timestamp of the response.
func (r *resp) timestamp() string { return r.header.Get("X-Weave-Timestamp") }

// client talks to the storage API as one user.
type client struct {
	e        *env
	name     string
	password string
}

// url makes a storage URL under /1.1/<user>/.
func (c *client) url(path string) string { return "/1.1/" + c.name + "/" + path }

func (c *client) do(method, path, body string, opts ...reqOpt) *resp {
	c.e.t.Helper()
	return c.e.do(method, c.url(path), body, append([]reqOpt{basicAuth(c.name, c.password)}, opts...)...)
}

func (c *client) get(path string, opts ...reqOpt) *resp {
	c.e.t.Helper()
	return c.do(http.MethodGet, path, "", opts...)
}

func (c *client) put(path, body string, opts ...reqOpt) *resp {
	c.e.t.Helper()
	return c.do(http.MethodPut, path, body, opts...)
}

func (c *client) post(path, body string, opts ...reqOpt) *resp {
	c.e.t.Helper()
	return c.do(http.MethodPost, path, body, opts...)
}

func (c *client) del(path string, opts ...reqOpt) *resp {
	c.e.t.Helper()
	return c.do(http.MethodDelete, path, "", opts...)
}

// mustPut stores a record and returns the write timestamp.
func (c *client) mustPut(path, body string) string {
	c.e.t.Helper()
	r := c.put(path, body).expectStatus(http.StatusOK)
	return r.timestamp()
}

// records builds a JSON array of n records id0…id<n-1> with payloads of
// the given size.
func records(prefix string, n, payloadSize int) string {
	var b strings.Builder
	b.WriteByte('[')
	payload := strings.Repeat("p", payloadSize)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s%d","payload":%q}`, prefix, i, payload)
	}
	b.WriteByte(']')
	return b.String()
}

// basic encodes Basic credentials by hand, for malformed variants.
func basic(s string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(s))
}
