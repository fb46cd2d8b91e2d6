package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// BenchmarkShardDispatch is the cost of the route dispatch shards bring
// to a native read (authenticated info/collections, SQLite, in process):
// a handler without shards serves it directly; with shards, the route
// row is looked up (a route cache hit) and the user's shard's handler
// answers. Run side by side: go test -run XXX -bench BenchmarkShardDispatch ./caddymodule/
func BenchmarkShardDispatch(b *testing.B) {
	off := caddy.Duration(0)
	newHandler := func(shards ...Shard) *Handler {
		for i := range shards {
			shards[i].Database = &Database{Dir: b.TempDir()}
		}
		h := &Handler{Database: &Database{Dir: b.TempDir()}, Shards: shards, PurgeInterval: &off, BcryptCost: 4}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: b.Context()})
		b.Cleanup(cancel)
		if err := h.Provision(ctx); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Cleanup() })
		return h
	}
	plain := newHandler()
	sharded := newHandler(Shard{Name: "s1"})
	for _, c := range []struct {
		name  string
		h     *Handler
		shard string
		route bool
	}{
		{"no-shards", plain, "", false},
		{"shards/default-rowless", sharded, "", false},
		{"shards/on-s1", sharded, "s1", true},
	} {
		user := "bench" + c.shard
		if c.h == sharded && c.shard == "" {
			user = "benchdefault"
		}
		nativeUser(b, c.h, c.shard, user, c.route)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := httptest.NewRequest("GET", "/1.1/"+user+"/info/collections", nil)
					r.SetBasicAuth(user, "password "+user)
					rec := httptest.NewRecorder()
					if err := c.h.ServeHTTP(rec, r, nil); err != nil || rec.Code != http.StatusOK {
						b.Errorf("%d %v", rec.Code, err)
						return
					}
				}
			})
		})
	}
}
