package caddymodule

import (
	"crypto/sha1"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// siteCaddyfile is a complete Caddyfile for the in-process test Caddy:
// firefox_sync with the given settings on http://127.0.0.1:<httpPort>.
func siteCaddyfile(settings string) string {
	return globalOptions() + fmt.Sprintf(`
http://127.0.0.1:%d {
	firefox_sync {
		bcrypt_cost 4
		%s
	}
}
`, httpPort, settings)
}

// globalOptions point the test Caddy at the test's ports and keep it
// from writing outside the test's directories.
func globalOptions() string {
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	persist_config off
	storage file_system %s
	http_port %d
	https_port %d
	grace_period 1ns
}
`, adminPort, storageDir, httpPort, httpsPort)
}

// emptyCaddyfile unloads every handler (and so releases pooled stores).
func emptyCaddyfile() string {
	return globalOptions()
}

// syncUsername is docs/protocol.md §2.3, computed here independently of the
// server: lower-case base32 of the SHA-1 of the lower-cased address.
func syncUsername(email string) string {
	sum := sha1.Sum([]byte(strings.ToLower(email)))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))
}

// syncClient speaks to the test Caddy like a Sync client would.
type syncClient struct {
	t        *testing.T
	base     string
	host     string // Host header; "" = the base URL's
	user     string
	password string
}

func newSyncClient(t *testing.T, email, password string) *syncClient {
	return &syncClient{
		t:        t,
		base:     fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		user:     syncUsername(email),
		password: password,
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

// do sends a request; auth adds the client's Basic credentials.
func (c *syncClient) do(method, path, body string, auth bool, header ...string) reply {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(c.user, c.password)
	}
	if c.host != "" {
		req.Host = c.host
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// expect checks status and body of a reply.
func (c *syncClient) expect(r reply, status int, body string) {
	c.t.Helper()
	if r.status != status || (body != "*" && r.body != body) {
		c.t.Fatalf("got %d %q, want %d %q", r.status, r.body, status, body)
	}
}

// register creates the client's account through the User API.
func (c *syncClient) register(email string) {
	c.t.Helper()
	u := "/user/1.0/" + c.user
	c.expect(c.do("GET", u, "", false), 200, "0")
	body, _ := json.Marshal(map[string]string{"email": email, "password": c.password})
	c.expect(c.do("PUT", u, string(body), false), 200, c.user)
	c.expect(c.do("GET", u, "", false), 200, "1")
}

// firstSync is a client's first sync against an empty account: node
// lookup, meta/global and crypto/keys, a batch of bookmarks, reading them
// back, deleting one.
func (c *syncClient) firstSync(publicURL string) {
	c.t.Helper()
	c.expect(c.do("GET", "/user/1.0/"+c.user+"/node/weave", "", true), 200, publicURL)
	st := "/1.1/" + c.user

	c.expect(c.do("GET", st+"/info/collections", "", true), 200, "{}")

	r := c.do("PUT", st+"/storage/meta/global", `{"payload":"{\"syncID\":\"abcdefghijkl\",\"storageVersion\":5}"}`, true)
	c.expect(r, 200, "*")
	if ts := r.header.Get("X-Weave-Timestamp"); ts != r.body {
		c.t.Fatalf("PUT meta/global: X-Weave-Timestamp %q, body %q: must be the same string", ts, r.body)
	}
	metaTS := r.body
	c.expect(c.do("PUT", st+"/storage/crypto/keys", `{"payload":"{\"ciphertext\":\"k\",\"IV\":\"i\",\"hmac\":\"h\"}"}`, true), 200, "*")

	var batch []map[string]any
	for i := range 3 {
		batch = append(batch, map[string]any{"id": fmt.Sprintf("bmk%09d", i), "sortindex": i, "payload": fmt.Sprintf(`{"ciphertext":"c%d"}`, i)})
	}
	body, _ := json.Marshal(batch)
	r = c.do("POST", st+"/storage/bookmarks", string(body), true, "Content-Type", "text/plain")
	c.expect(r, 200, "*")
	var post struct {
		Modified json.Number         `json:"modified"`
		Success  []string            `json:"success"`
		Failed   map[string][]string `json:"failed"`
	}
	if err := json.Unmarshal([]byte(r.body), &post); err != nil {
		c.t.Fatalf("POST body %q: %v", r.body, err)
	}
	if len(post.Success) != 3 || len(post.Failed) != 0 || string(post.Modified) != r.header.Get("X-Weave-Timestamp") {
		c.t.Fatalf("POST bookmarks: %s (X-Weave-Timestamp %s)", r.body, r.header.Get("X-Weave-Timestamp"))
	}

	// Newer than meta/global: the three bookmarks, one per line.
	r = c.do("GET", st+"/storage/bookmarks?full=1&newer="+metaTS, "", true, "Accept", "application/newlines")
	c.expect(r, 200, "*")
	if lines := strings.Split(r.body, "\n"); len(lines) != 4 || lines[3] != "" {
		c.t.Fatalf("newlines body %q: want 3 records each followed by a newline", r.body)
	}
	// Newer than the upload: nothing (the filter is strict).
	c.expect(c.do("GET", st+"/storage/bookmarks?newer="+string(post.Modified), "", true), 200, "[]")

	r = c.do("GET", st+"/storage/meta/global", "", true)
	c.expect(r, 200, "*")
	var wbo struct{ ID, Payload string }
	if err := json.Unmarshal([]byte(r.body), &wbo); err != nil || wbo.ID != "global" || !strings.Contains(wbo.Payload, "abcdefghijkl") {
		c.t.Fatalf("GET meta/global: %q (%v)", r.body, err)
	}

	c.expect(c.do("DELETE", st+"/storage/bookmarks/bmk000000001", "", true), 200, "*")
	c.expect(c.do("GET", st+"/storage/bookmarks", "", true), 200, `["bmk000000000","bmk000000002"]`)

	r = c.do("GET", st+"/info/collections", "", true)
	var colls map[string]float64
	if err := json.Unmarshal([]byte(r.body), &colls); err != nil || len(colls) != 3 {
		c.t.Fatalf("info/collections: %q (%v): want meta, crypto and bookmarks", r.body, err)
	}

	// Wrong password and another user's storage are refused.
	other := *c
	other.password = "not the password"
	if r := other.do("GET", st+"/info/collections", "", true); r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
		c.t.Fatalf("wrong password: %d %v", r.status, r.header)
	}
}

func initServer(t *testing.T, caddyfile string) *caddytest.Tester {
	t.Helper()
	tester := caddytest.NewTester(t)
	tester.InitServer(caddyfile, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	settleReload(t)
	return tester
}

// unloadAtEnd loads an empty config when the test ends, so the next test
// starts without our handlers and their databases are closed.
func unloadAtEnd(t *testing.T) {
	t.Cleanup(func() {
		caddytest.NewTester(t).InitServer(emptyCaddyfile(), "caddyfile")
		settleReload(t)
	})
}

// settleReload waits, after a config load, until the previous config's
// servers (the admin endpoint's too: Caddy starts a new one at every load,
// refused loads included, and stops the old one in a goroutine) no longer
// listen, and drops the test clients' idle connections, which the previous
// servers closed. A load returns once the new servers
// listen and the old ones were told to stop; until the old listeners are
// closed, a new connection can land on an old server and be reset or
// dropped, and a keep-alive connection taken from the pool may be one the
// old server just closed (a PUT or POST sent on it fails with EOF; Go's
// client retries only idempotent requests). A real client sees the same
// during a reload (see the README); the tests are about what the new
// config serves, so they start talking once the swap is over.
func settleReload(t testing.TB) {
	t.Helper()
	for _, port := range []int{adminPort, httpPort, httpsPort} {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			n, err := testservices.Listeners(port)
			if err != nil {
				t.Fatal(err)
			}
			if n <= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d listeners on port %d 10 s after a config load: the old server does not stop", n, port)
			}
		}
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}

func TestSQLiteThroughCaddy(t *testing.T) {
	dir := t.TempDir()
	publicURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	unloadAtEnd(t)
	initServer(t, siteCaddyfile(fmt.Sprintf("database sqlite %s\n\t\tpublic_url %s", dir, publicURL)))

	const email = "alice@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	if c.user != "7qrzrjz52vgwen6e7w2y7v6xknd46wxt" {
		t.Fatalf("test's username derivation is off: %s (docs/protocol.md §2.3 example)", c.user)
	}
	c.register(email)
	c.firstSync(publicURL)

	// Heartbeat and the metrics the requests above produced, from the
	// admin endpoint's /metrics (Caddy's per-config registry).
	c.expect(c.do("GET", "/__heartbeat__", "", false), 200, "")
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`syncserver_requests_total{code="200",endpoint="user.create"} 1`,
		`syncserver_requests_total{code="401",`,
		`syncserver_request_duration_seconds_bucket{endpoint="user.create",le="+Inf"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(string(metrics), "syncserver_"))
		}
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// poolEntry returns the pooled store for a database and its reference
// count (0 when not open).
func poolEntry(t *testing.T, d Database) (*pooledStore, int) {
	t.Helper()
	key, err := d.poolKey()
	if err != nil {
		t.Fatal(err)
	}
	refs, _ := databases.References(key)
	var found *pooledStore
	databases.Range(func(k, v any) bool {
		if k == key {
			found = v.(*pooledStore)
			return false
		}
		return true
	})
	return found, refs
}

// TestReloadKeepsDatabase: a config reload that keeps the database reuses
// the open store (UsagePool reference count), a second handler on the same
// database shares it, and dropping it from the config closes it.
func TestReloadKeepsDatabase(t *testing.T) {
	dir := t.TempDir()
	db := Database{Dir: dir}
	publicURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	unloadAtEnd(t)

	initServer(t, siteCaddyfile(fmt.Sprintf("database sqlite %s\n\t\tpublic_url %s", dir, publicURL)))
	first, refs := poolEntry(t, db)
	if first == nil || refs != 1 {
		t.Fatalf("after first load: store %p, %d references; want one", first, refs)
	}
	const email = "bob@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)
	c.expect(c.do("PUT", "/1.1/"+c.user+"/storage/tabs/t1", `{"payload":"p"}`, true), 200, "*")

	// Reload with other settings and a second handler on the same
	// database (behind a matcher): same store, two references.
	initServer(t, globalOptions()+fmt.Sprintf(`
http://127.0.0.1:%d {
	@closed header X-Test-Closed 1
	firefox_sync @closed {
		database sqlite %s
		registration closed
	}
	firefox_sync {
		database sqlite %s
		registration open
		quota 1MiB
	}
}
`, httpPort, dir, dir+"/."))
	second, refs := poolEntry(t, db)
	if second != first {
		t.Errorf("reload reopened the database: store %p, was %p", second, first)
	}
	if refs != 2 {
		t.Errorf("after reload with two handlers: %d references, want 2", refs)
	}
	c.expect(c.do("GET", "/1.1/"+c.user+"/storage/tabs/t1", "", true), 200, "*")
	regBody := `{"email":"carol@example.com","password":"correct horse battery"}`
	carol := "/user/1.0/" + syncUsername("carol@example.com")
	if r := c.do("PUT", carol, regBody, false, "X-Test-Closed", "1"); r.status != 400 {
		t.Errorf("registration through the closed handler: %d %q, want 400", r.status, r.body)
	}
	c.expect(c.do("PUT", carol, regBody, false), 200, syncUsername("carol@example.com"))

	// A config with another database closes this one.
	other := t.TempDir()
	initServer(t, siteCaddyfile("database sqlite "+other))
	if s, refs := poolEntry(t, db); s != nil || refs != 0 {
		t.Errorf("database still pooled after it left the config: %p, %d references", s, refs)
	}
	if s, refs := poolEntry(t, Database{Dir: other}); s == nil || refs != 1 {
		t.Errorf("new database: %p, %d references; want one", s, refs)
	}
	if r := c.do("GET", "/1.1/"+c.user+"/storage/tabs/t1", "", true); r.status != 401 {
		t.Errorf("user of the old database on the new one: %d, want 401", r.status)
	}
}

// TestDevConfigServes loads the dev command's config (with the test's
// admin endpoint instead of none) and syncs through it.
func TestDevConfigServes(t *testing.T) {
	cfg, publicURL, err := devConfig(devOptions{
		Listen:       "127.0.0.1:" + strconv.Itoa(httpPort),
		DataDir:      t.TempDir(),
		Registration: RegistrationOpen,
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("http://127.0.0.1:%d/", httpPort); publicURL != want {
		t.Errorf("public URL %q, want %q", publicURL, want)
	}
	cfg.Admin.Disabled = false
	cfg.Admin.Listen = fmt.Sprintf("localhost:%d", adminPort)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	unloadAtEnd(t)
	caddytest.NewTester(t).InitServer(string(raw), "json")
	settleReload(t)
	if t.Failed() {
		t.FailNow()
	}
	const email = "dev@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)
	c.firstSync(publicURL)
}

func TestDevConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		o       devOptions
		wantErr string
	}{
		{devOptions{Listen: "5000"}, `--listen "5000": want host:port`},
		{devOptions{Listen: "127.0.0.1:5000", Registration: "sometimes"}, `registration "sometimes"`},
		{devOptions{Listen: "127.0.0.1:5000", Registration: "allowlist"}, "use a Caddyfile"},
		{devOptions{Listen: "127.0.0.1:5000", PublicURL: "sync.local"}, "public_url"},
		// The flags' own names and values, not the Caddyfile's.
		{devOptions{Listen: "127.0.0.1:5000", Registration: "sometimes"}, `--registration "sometimes": want open or closed`},
		{devOptions{Listen: "127.0.0.1:5000", PublicURL: "sync.local"}, `--public-url: public_url "sync.local"`},
		// Refused before anything is opened (Caddy would first create
		// the SQLite database, then fail on the listener).
		{devOptions{Listen: "127.0.0.1:99999"}, `--listen "127.0.0.1:99999": port 99999`},
		{devOptions{Listen: "127.0.0.1:http"}, `--listen "127.0.0.1:http": port "http"`},
	} {
		_, _, err := devConfig(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("devConfig(%+v) = %v, want error containing %q", tc.o, err, tc.wantErr)
		}
	}
	_, u, err := devConfig(devOptions{Listen: ":5000"})
	if err != nil || u != "http://localhost:5000/" {
		t.Errorf("devConfig(:5000) public URL %q, %v; want http://localhost:5000/", u, err)
	}
}

// TestDevRefusesServedAddress: the dev command refuses an address another
// process already serves (Caddy's SO_REUSEPORT listeners would otherwise
// share it silently), and accepts a free one.
func TestDevRefusesServedAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	for _, listen := range []string{addr, "0.0.0.0:" + port, ":" + port} {
		if err := checkListenFree(listen); err == nil || !strings.Contains(err.Error(), "already serves") {
			t.Errorf("checkListenFree(%s) with a listener there = %v, want an error saying it is served", listen, err)
		}
	}
	ln.Close()
	if err := checkListenFree(addr); err != nil {
		t.Errorf("checkListenFree(%s) after the listener closed = %v, want nil", addr, err)
	}
	if err := checkListenFree("nonsense"); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("checkListenFree(nonsense) = %v, want an error naming --listen", err)
	}
}
