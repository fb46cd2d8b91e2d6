package caddymodule

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
)

func TestValidateShards(t *testing.T) {
	db := func(dir string) *Database { return &Database{Dir: dir} }
	for _, tc := range []struct {
		name    string
		shards  []Shard
		wantErr string // "" = valid
	}{
		{"two shards", []Shard{{Name: "s1", Database: db("/a")}, {Name: "s-2_b", Database: &Database{Driver: "mysql", DSN: "u:p@tcp(db2:3306)/s"}, Weight: ptr(3)}}, ""},
		{"closed and weight 0", []Shard{{Name: "s1", Database: db("/a"), Closed: true}, {Name: "s2", Database: db("/b"), Weight: ptr(0)}}, ""},
		{"reserved name", []Shard{{Name: "default", Database: db("/a")}}, `name "default" is reserved`},
		{"empty name", []Shard{{Database: db("/a")}}, `shards: name "": want 1 to 32 characters`},
		{"upper case name", []Shard{{Name: "S1", Database: db("/a")}}, `shards: name "S1"`},
		{"name with colon", []Shard{{Name: "s:1", Database: db("/a")}}, `shards: name "s:1"`},
		{"name too long", []Shard{{Name: strings.Repeat("s", 33), Database: db("/a")}}, "want 1 to 32 characters"},
		{"duplicate name", []Shard{{Name: "s1", Database: db("/a")}, {Name: "s1", Database: db("/b")}}, `name "s1" is used twice`},
		{"no database", []Shard{{Name: "s1"}}, "shard s1: database is required"},
		{"bad database", []Shard{{Name: "s1", Database: &Database{Driver: "mysql"}}}, "shard s1: database: the mysql driver needs a dsn"},
		{"negative weight", []Shard{{Name: "s1", Database: db("/a"), Weight: ptr(-1)}}, "shard s1: weight -1: want 0"},
		{"huge weight", []Shard{{Name: "s1", Database: db("/a"), Weight: ptr(maxShardWeight + 1)}}, "shard s1: weight"},
		{"same database as the handler", []Shard{{Name: "s1", Database: db(DefaultDataDir)}}, "already the default shard's"},
		{"same database twice", []Shard{{Name: "s1", Database: db("/a")}, {Name: "s2", Database: db("/a/")}}, "shard s2: its database (sqlite:/a) is already the s1 shard's"},
		{"same mysql database, other pool settings", []Shard{
			{Name: "s1", Database: &Database{Driver: "mysql", DSN: "u:p@tcp(db2:3306)/s"}},
			{Name: "s2", Database: &Database{Driver: "mysql", DSN: "v:q@tcp(db2:3306)/s", MaxOpenConns: 3}},
		}, "already the s1 shard's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := Handler{Shards: tc.shards}
			err := h.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("no error; want one containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestShardWeights(t *testing.T) {
	h := Handler{Shards: []Shard{{Name: "a"}, {Name: "b", Weight: ptr(3)}, {Name: "c", Weight: ptr(3), Closed: true}, {Name: "d", Weight: ptr(0)}}}
	want := []syncstore.ShardWeight{{Name: "a", Weight: 1}, {Name: "b", Weight: 3}, {Name: "c"}, {Name: "d"}}
	if got := h.shardWeights(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("weights %v, want %v", got, want)
	}
}

// shardedHandler provisions a handler on SQLite with the given shards
// (SQLite directories of their own unless the shard sets a database).
func shardedHandler(t *testing.T, shards ...Shard) *Handler {
	t.Helper()
	off := caddy.Duration(0)
	for i := range shards {
		if shards[i].Database == nil {
			shards[i].Database = &Database{Dir: t.TempDir()}
		}
	}
	h := &Handler{Database: &Database{Dir: t.TempDir()}, Shards: shards, PurgeInterval: &off,
		BcryptCost: 4, AllowPlainUsernames: true}
	provisioned(t, h)
	t.Cleanup(func() {
		if err := h.Cleanup(); err != nil {
			t.Error(err)
		}
	})
	return h
}

// stackOf is the handler's stack of a shard ("" = its own database).
func (h *Handler) stackOf(t testing.TB, shard string) *nativeStack {
	t.Helper()
	for _, st := range h.stacks {
		if st.shard == shard {
			return st
		}
	}
	t.Fatalf("no stack for shard %q", shard)
	return nil
}

// nativeUser creates an account with one bookmark on a shard's store and,
// unless route is false, its route row naming the shard.
func nativeUser(t testing.TB, h *Handler, shard, name string, route bool) {
	t.Helper()
	ctx := context.Background()
	hash, err := syncstore.HashPassword("password "+name, 4)
	if err != nil {
		t.Fatal(err)
	}
	store := h.stackOf(t, shard).store
	u := &syncstore.User{Name: name, PasswordHash: hash}
	if err := store.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	payload := "on " + syncstore.ShardLabel(shard)
	if _, err := store.PutRecords(ctx, u.ID, "bookmarks", []syncstore.WBO{{ID: "where", Payload: &payload}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if route {
		if err := h.stacks[0].pooled.routes.Table().SetRoute(ctx, syncstore.Route{Username: name, State: syncstore.RouteNative, Shard: shard}); err != nil {
			t.Fatal(err)
		}
	}
}

// serve sends one request through the handler.
func serve(t *testing.T, h *Handler, method, path, user, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if user != "" {
		r.SetBasicAuth(user, "password "+user)
	}
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, r, nextFunc(func(http.ResponseWriter, *http.Request) error { return errors.New("next called") })); err != nil {
		t.Fatal(err)
	}
	return rec
}

// whereIs reads the user's bookmark "where" through the handler.
func whereIs(t *testing.T, h *Handler, user string) (int, string) {
	t.Helper()
	rec := serve(t, h, "GET", "/1.1/"+user+"/storage/bookmarks/where", user, "")
	if rec.Code != http.StatusOK {
		return rec.Code, rec.Body.String()
	}
	var wbo struct{ Payload string }
	if err := json.Unmarshal(rec.Body.Bytes(), &wbo); err != nil {
		t.Fatalf("%s: %q: %v", user, rec.Body, err)
	}
	return rec.Code, wbo.Payload
}

// TestShardsServeUsersByRow: one handler serves users of its own
// database (rowless or with a row) and of two shards, each from the
// store their row names, writes included; a row naming a shard the
// handler does not know gets 503 with Retry-After, not another shard's
// answer.
func TestShardsServeUsersByRow(t *testing.T) {
	h := shardedHandler(t, Shard{Name: "s1"}, Shard{Name: "s2", Closed: true})
	if h.shim == nil {
		t.Fatal("shards configured without a legacy block, but no route dispatch")
	}
	nativeUser(t, h, "", "alice", false)
	nativeUser(t, h, "", "anne", true)
	nativeUser(t, h, "s1", "bob", true)
	nativeUser(t, h, "s2", "carol", true)
	for user, want := range map[string]string{"alice": "on default", "anne": "on default", "bob": "on s1", "carol": "on s2"} {
		if code, got := whereIs(t, h, user); code != 200 || got != want {
			t.Errorf("%s: %d %q, want 200 %q", user, code, got, want)
		}
	}
	// A write lands on the user's shard only.
	if rec := serve(t, h, "PUT", "/1.1/bob/storage/bookmarks/new", "bob", `{"payload":"written"}`); rec.Code != 200 {
		t.Fatalf("PUT for bob: %d %q", rec.Code, rec.Body)
	}
	ctx := context.Background()
	u, err := h.stackOf(t, "s1").store.LookupUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.stackOf(t, "s1").store.GetRecord(ctx, u.ID, "bookmarks", "new"); err != nil {
		t.Errorf("bob's write is not on s1: %v", err)
	}
	if _, err := h.stackOf(t, "").store.LookupUser(ctx, "bob"); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("bob found on the default database: %v", err)
	}
	// node/weave answers for a shard's user like for any other.
	if rec := serve(t, h, "GET", "/user/1.0/carol/node/weave", "", ""); rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "http") {
		t.Errorf("node/weave of carol: %d %q", rec.Code, rec.Body)
	}

	nativeUser(t, h, "s1", "dave", false)
	if err := h.stacks[0].pooled.routes.Table().SetRoute(ctx, syncstore.Route{Username: "dave", State: syncstore.RouteNative, Shard: "s9"}); err != nil {
		t.Fatal(err)
	}
	rec := serve(t, h, "GET", "/1.1/dave/info/collections", "dave", "")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("user on an unknown shard: %d %v %q, want 503 with Retry-After", rec.Code, rec.Header(), rec.Body)
	}
}

// register creates an account through the User API of h.
func register(t *testing.T, h *Handler, user string) *httptest.ResponseRecorder {
	t.Helper()
	body := fmt.Sprintf(`{"email":"%s@example.com","password":"password %s"}`, user, user)
	return serve(t, h, "PUT", "/user/1.0/"+user, "", body)
}

// routeOf reads the user's row from the handler's directory, nil when
// there is none.
func routeOf(t *testing.T, h *Handler, user string) *syncstore.Route {
	t.Helper()
	r, err := h.stacks[0].pooled.routes.Table().GetRoute(context.Background(), user)
	if errors.Is(err, syncstore.ErrNoRoute) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestShardRegistration: new users are created on the shard PickShard
// names over the open shards (by weight; a closed shard gets none), with
// their row written; the account exists on that shard only and is served
// from it. A name the directory database already holds is answered there
// and gets no row; a second instance registering a taken name picks the
// same shard and is told it exists.
func TestShardRegistration(t *testing.T) {
	h := shardedHandler(t, Shard{Name: "s1"}, Shard{Name: "s2", Weight: ptr(3)}, Shard{Name: "s3", Weight: ptr(5), Closed: true})
	ctx := context.Background()
	weights := h.shardWeights()
	counts := map[string]int{}
	const n = 120
	for i := range n {
		user := fmt.Sprintf("reg%03d", i)
		if rec := register(t, h, user); rec.Code != 200 || rec.Body.String() != user {
			t.Fatalf("registering %s: %d %q", user, rec.Code, rec.Body)
		}
		want, _ := syncstore.PickShard(user, weights)
		row := routeOf(t, h, user)
		if row == nil || row.State != syncstore.RouteNative || row.Shard != want {
			t.Fatalf("%s: row %+v, want native on %s", user, row, want)
		}
		counts[row.Shard]++
		for _, st := range h.stacks {
			_, err := st.store.LookupUser(ctx, user)
			if found := err == nil; found != (st.shard == want) {
				t.Fatalf("%s (on %s): found on %s = %v (%v)", user, want, st.label(), found, err)
			}
		}
	}
	if counts["s3"] != 0 || counts[""] != 0 {
		t.Errorf("new users on the closed shard or the default database: %v", counts)
	}
	if counts["s2"] <= counts["s1"] || counts["s1"] == 0 {
		t.Errorf("users per shard %v: want s2 (weight 3) well ahead of s1 (weight 1), s1 not empty", counts)
	}
	// Served from their shard: a first write and read.
	if rec := serve(t, h, "PUT", "/1.1/reg007/storage/bookmarks/b", "reg007", `{"payload":"x"}`); rec.Code != 200 {
		t.Fatalf("PUT for a new user: %d %q", rec.Code, rec.Body)
	}
	if rec := serve(t, h, "GET", "/1.1/reg007/info/collections", "reg007", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "bookmarks") {
		t.Errorf("info/collections of a new user: %d %q", rec.Code, rec.Body)
	}

	// A rowless account of the directory database keeps its name.
	nativeUser(t, h, "", "olduser", false)
	if rec := register(t, h, "olduser"); rec.Code != 400 {
		t.Errorf("registering a name the default database holds: %d %q, want 400", rec.Code, rec.Body)
	}
	if row := routeOf(t, h, "olduser"); row != nil {
		t.Errorf("a refused registration wrote the row %+v", row)
	}

	// Another instance (its own handler and shim on the same databases)
	// registering a taken name goes to the same shard and is refused.
	other := &Handler{Database: h.Database, Shards: h.Shards, PurgeInterval: h.PurgeInterval, BcryptCost: 4, AllowPlainUsernames: true}
	provisioned(t, other)
	defer other.Cleanup()
	before := routeOf(t, h, "reg042")
	if rec := register(t, other, "reg042"); rec.Code != 400 {
		t.Errorf("second instance registering a taken name: %d %q, want 400", rec.Code, rec.Body)
	}
	if after := routeOf(t, h, "reg042"); after.Shard != before.Shard || after.State != before.State {
		t.Errorf("row changed from %+v to %+v", before, after)
	}
}

// TestShardRegistrationAllClosed: with every shard closed, new users go
// to the default database, with a native row naming no shard.
func TestShardRegistrationAllClosed(t *testing.T) {
	h := shardedHandler(t, Shard{Name: "s1", Closed: true}, Shard{Name: "s2", Weight: ptr(0)})
	if rec := register(t, h, "newbie"); rec.Code != 200 {
		t.Fatalf("registering: %d %q", rec.Code, rec.Body)
	}
	row := routeOf(t, h, "newbie")
	if row == nil || row.State != syncstore.RouteNative || row.Shard != "" {
		t.Fatalf("row %+v, want native on the default database", row)
	}
	if _, err := h.stackOf(t, "").store.LookupUser(context.Background(), "newbie"); err != nil {
		t.Errorf("account not on the default database: %v", err)
	}
}

// TestShardMetrics: native requests are counted under their shard's name
// in the node label, "default" for the handler's own database.
func TestShardMetrics(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	off := caddy.Duration(0)
	h := &Handler{Database: &Database{Dir: t.TempDir()}, Shards: []Shard{{Name: "s1", Database: &Database{Dir: t.TempDir()}}},
		PurgeInterval: &off, BcryptCost: 4}
	if err := h.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer h.Cleanup()
	nativeUser(t, h, "", "alice", false)
	nativeUser(t, h, "s1", "bob", true)
	whereIs(t, h, "alice")
	whereIs(t, h, "bob")
	whereIs(t, h, "bob")
	families, err := ctx.GetMetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "syncserver_backend_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got[labels["backend"]+"/"+labels["node"]] = m.GetCounter().GetValue()
		}
	}
	if got["native/default"] != 1 || got["native/s1"] != 2 {
		t.Errorf("backend requests %v, want native/default 1 and native/s1 2", got)
	}
}

// TestShardsThroughCaddy: the Caddyfile syntax of SHARDS.md, loaded in
// Caddy on MariaDB with a SQLite shard: a client registers (the only open
// shard gets it), syncs from its shard, node/weave answers public_url;
// the admin API shows the row's shard and refuses a shard change unless
// forced.
func TestShardsThroughCaddy(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	t.Setenv("SHARD_TEST_DSN", dsn)
	shardDir := t.TempDir()
	publicURL := fmt.Sprintf("http://127.0.0.1:%d/", httpPort)
	unloadAtEnd(t)
	initServer(t, siteCaddyfile(fmt.Sprintf(`database mysql {env.SHARD_TEST_DSN}
		shard s1 {
			database sqlite %s {
				db_timeout 3s
			}
			weight 2
		}
		public_url %s`, shardDir, publicURL)))

	const email = "shardy@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)
	c.firstSync(publicURL)
	if _, err := openSQLite(t, shardDir, nil).LookupUser(context.Background(), c.user); err != nil {
		t.Fatalf("the account is not on shard s1: %v", err)
	}

	status, body := adminRequest(t, "GET", shim.AdminPath+c.user, "")
	var row shim.RouteJSON
	if err := json.Unmarshal([]byte(body), &row); status != 200 || err != nil || row.Shard != "s1" || row.State != "native" {
		t.Fatalf("admin GET: %d %s (%v), want native on s1", status, body, err)
	}
	status, body = adminRequest(t, "PUT", shim.AdminPath+c.user, `{"state":"native","shard":"default"}`)
	if status != http.StatusConflict || !strings.Contains(body, "syncserver migrate --from s1 --to default") {
		t.Errorf("admin PUT of another shard: %d %s, want 409 pointing at the migrate tool", status, body)
	}
	// Native on its own shard: the account is found there.
	if status, body = adminRequest(t, "PUT", shim.AdminPath+c.user, `{"state":"native"}`); status != 200 || !strings.Contains(body, `"shard":"s1"`) {
		t.Errorf("admin PUT native (shard kept): %d %s", status, body)
	}
	if status, body = adminRequest(t, "PUT", shim.AdminPath+c.user, `{"state":"native","shard":"default","force":true}`); status != 200 || !strings.Contains(body, `"shard":"default"`) {
		t.Errorf("forced shard change: %d %s", status, body)
	}
	// Now routed to the default database, which does not hold the account.
	if r := c.do("GET", "/1.1/"+c.user+"/info/collections", "", true); r.status != 401 {
		t.Errorf("after a forced move without data: %d %q, want 401 from the default database", r.status, r.body)
	}
	if !strings.Contains(scrapeMetrics(t), `syncserver_backend_requests_total{backend="native",node="s1"}`) {
		t.Errorf("no per-shard native request count in the metrics:\n%s", grepLines(scrapeMetrics(t), "backend_requests"))
	}
}

// TestShardsShareLoginThrottle: failed logins are counted per client
// address once for the whole handler, whichever shard the users guessed
// at live on: three failures spread over the default database and two
// shards throttle the address on all of them.
func TestShardsShareLoginThrottle(t *testing.T) {
	off := caddy.Duration(0)
	h := &Handler{Database: &Database{Dir: t.TempDir()},
		Shards:        []Shard{{Name: "s1", Database: &Database{Dir: t.TempDir()}}, {Name: "s2", Database: &Database{Dir: t.TempDir()}}},
		PurgeInterval: &off, BcryptCost: 4, AuthThrottle: &AuthThrottle{PerUser: -1, PerAddress: 3}}
	provisioned(t, h)
	t.Cleanup(func() { h.Cleanup() })
	nativeUser(t, h, "", "alice", false)
	nativeUser(t, h, "s1", "bob", true)
	nativeUser(t, h, "s2", "carol", true)
	guess := func(user string) int {
		r := httptest.NewRequest("GET", "/1.1/"+user+"/info/collections", nil)
		r.RemoteAddr = "192.0.2.7:4000"
		r.SetBasicAuth(user, "wrong guess")
		rec := httptest.NewRecorder()
		if err := h.ServeHTTP(rec, r, nil); err != nil {
			t.Fatal(err)
		}
		return rec.Code
	}
	for _, user := range []string{"alice", "bob", "carol"} {
		if code := guess(user); code != http.StatusUnauthorized {
			t.Fatalf("guess at %s: %d, want 401", user, code)
		}
	}
	for _, user := range []string{"alice", "bob", "carol"} {
		if code := guess(user); code != http.StatusServiceUnavailable {
			t.Errorf("guess at %s after 3 failures from the address: %d, want 503 (address throttled)", user, code)
		}
	}
}

// TestShardRegistrationRouteFailure: when the row of a new user cannot be
// written, the client gets 503 and the account is removed again from the
// shard it was created on; a retry then succeeds there.
func TestShardRegistrationRouteFailure(t *testing.T) {
	dsn := freshMySQLDatabase(t)
	off := caddy.Duration(0)
	h := &Handler{Database: &Database{Driver: DriverMySQL, DSN: dsn},
		Shards:        []Shard{{Name: "s1", Database: &Database{Dir: t.TempDir()}}},
		PurgeInterval: &off, BcryptCost: 4, AllowPlainUsernames: true}
	provisioned(t, h)
	t.Cleanup(func() { h.Cleanup() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Reads of the route table work; inserts fail, as on a full disk.
	if _, err := db.Exec("CREATE TRIGGER shard_routes_fail BEFORE INSERT ON routes FOR EACH ROW " +
		"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'"); err != nil {
		t.Fatal(err)
	}
	if rec := register(t, h, "uma"); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("registration without a row: %d %q, want 503 with Retry-After", rec.Code, rec.Body)
	}
	if _, err := h.stackOf(t, "s1").store.LookupUser(context.Background(), "uma"); !errors.Is(err, syncstore.ErrNotFound) {
		t.Errorf("the account on s1 survived the failed row write: %v", err)
	}
	if _, err := db.Exec("DROP TRIGGER shard_routes_fail"); err != nil {
		t.Fatal(err)
	}
	if rec := register(t, h, "uma"); rec.Code != 200 {
		t.Fatalf("retry: %d %q", rec.Code, rec.Body)
	}
	if row := routeOf(t, h, "uma"); row == nil || row.Shard != "s1" {
		t.Errorf("row after the retry: %+v", row)
	}
}

// TestShardRegistrationBehindLegacy: with a legacy block whose rowless
// users stay legacy and new users native, a name free on the legacy node
// is created on a shard; a registration of a name the legacy node holds
// is passed to the node and creates nothing natively.
func TestShardRegistrationBehindLegacy(t *testing.T) {
	e := newShimEnv(t)
	shardDir := t.TempDir()
	initServer(t, siteCaddyfile(fmt.Sprintf(`database mysql {env.SHM_NATIVE_DSN}
		public_url %s
		shard s1 {
			database sqlite %s
		}
		legacy {
			node node1 {
				reverse_proxy %s
			}
			default_state legacy
			new_users native
		}`, e.publicURL, shardDir, e.legacy.Addr)))
	c := newSyncClient(t, "nina@example.com", "correct horse battery")
	c.register("nina@example.com")
	if rt := e.route(c.user); rt == nil || rt.State != syncstore.RouteNative || rt.Shard != "s1" {
		t.Fatalf("route of a new user: %+v, want native on s1", rt)
	}
	c.firstSync(e.publicURL)
	old := e.legacyUser("olga@example.com", "olga's password")
	body, _ := json.Marshal(map[string]string{"email": "olga@example.com", "password": "another password"})
	// The legacy node answers it, as it would without the shim.
	n := e.legacy.count()
	old.do("PUT", "/user/1.0/"+old.user, string(body), false)
	if got := e.legacy.since(n); len(got) == 0 || got[len(got)-1].method != "PUT" {
		t.Errorf("the registration did not reach the legacy node: %+v", got)
	}
	if rt := e.route(old.user); rt != nil {
		t.Errorf("a registration answered by the legacy node wrote the row %+v", rt)
	}
	if _, err := openSQLite(t, shardDir, nil).LookupUser(context.Background(), old.user); err == nil {
		t.Error("a name the legacy node holds was created on s1")
	}
}

// TestShardsReload: a reload provisions the new handler before cleaning
// up the old one; the shards' pooled stores are shared, not reopened, and
// stay open for the new handler after the old one is gone.
func TestShardsReload(t *testing.T) {
	h := shardedHandler(t, Shard{Name: "s1"})
	nativeUser(t, h, "s1", "bob", true)
	next := &Handler{Database: h.Database, Shards: h.Shards, PurgeInterval: h.PurgeInterval, BcryptCost: 4}
	provisioned(t, next)
	defer next.Cleanup()
	if h.stackOf(t, "s1").pooled != next.stackOf(t, "s1").pooled {
		t.Error("the reloaded handler reopened the shard's database")
	}
	if err := h.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if code, got := whereIs(t, next, "bob"); code != 200 || got != "on s1" {
		t.Errorf("bob after the old config's cleanup: %d %q", code, got)
	}
}

// TestShardMoveStaleRead: a read that follows a cached route to the shard
// a user has just left (the copy there deleted after the flip) is not
// answered 401: the shim reads the route again and serves the user from
// the new shard. A wrong password is still a 401, with its
// WWW-Authenticate header. The old shard's credential cache is off here:
// with it, the old shard would accept the login and answer from an empty
// account, which is why the source copy must outlive the flip by
// route_cache_ttl (README, Native shards).
func TestShardMoveStaleRead(t *testing.T) {
	off := caddy.Duration(0)
	h := &Handler{Database: &Database{Dir: t.TempDir()},
		Shards:        []Shard{{Name: "s1", Database: &Database{Dir: t.TempDir()}}, {Name: "s2", Database: &Database{Dir: t.TempDir()}}},
		PurgeInterval: &off, BcryptCost: 4, AuthCacheSize: -1}
	provisioned(t, h)
	t.Cleanup(func() { h.Cleanup() })
	ctx := context.Background()
	nativeUser(t, h, "s1", "bob", true)
	if code, got := whereIs(t, h, "bob"); code != 200 || got != "on s1" {
		t.Fatalf("bob before the move: %d %q", code, got)
	}
	// The move, as another instance's migrate run makes it: copy on s2,
	// flip, source deleted; this instance's route cache still says s1.
	nativeUser(t, h, "s2", "bob", true)
	s1 := h.stackOf(t, "s1").store
	u, err := s1.LookupUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if code, got := whereIs(t, h, "bob"); code != 200 || got != "on s2" {
		t.Errorf("bob read through a stale cached route: %d %q, want 200 from s2", code, got)
	}
	r := httptest.NewRequest("GET", "/1.1/bob/info/collections", nil)
	r.SetBasicAuth("bob", "not the password")
	rec := httptest.NewRecorder()
	if err := h.ServeHTTP(rec, r, nil); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" || rec.Header().Get("X-Weave-Timestamp") == "" {
		t.Errorf("wrong password: %d %v, want 401 with WWW-Authenticate", rec.Code, rec.Header())
	}
}
