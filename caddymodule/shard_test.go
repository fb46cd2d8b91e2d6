package caddymodule

import (
	"context"
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
func (h *Handler) stackOf(t *testing.T, shard string) *nativeStack {
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
func nativeUser(t *testing.T, h *Handler, shard, name string, route bool) {
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
	payload := "on " + shim.ShardLabel(shard)
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
