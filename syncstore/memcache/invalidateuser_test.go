package memcache

import (
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// TestInvalidateUser: a write that bypasses the layer (the migrate tool
// writes the tables directly) is served stale until InvalidateUser, then
// fresh on every instance; while memcached cannot be reached,
// InvalidateUser fails instead of pretending, and succeeds once it can.
func TestInvalidateUser(t *testing.T) {
	mc := testservices.Memcached(t)
	f := newFixture(t, mc)
	p := newProxy(t, mc)
	cfg := f.cfg
	cfg.Servers = []string{p.addr()}
	tool := f.another(t, cfg) // the migrate tool's instance
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.wantView(t, f.cached, uid, "fill")

	f.clock.Advance(time.Second)
	f.put(t, f.direct, uid, "meta", wbo("global", "v2")) // bypasses memcached
	if v, err := payloadOf(f.ctx, f.cached, uid, "meta", "global"); err != nil || v[:2] != "v1" {
		t.Fatalf("a write past the layer should be unseen before InvalidateUser (else this test shows nothing): %q, %v", v, err)
	}

	p.setCut(true)
	if err := tool.InvalidateUser(f.ctx, uid); err == nil {
		t.Fatal("InvalidateUser reported success while memcached was unreachable")
	}
	p.setCut(false)
	if err := tool.InvalidateUser(f.ctx, uid); err != nil {
		t.Fatalf("InvalidateUser once memcached answers: %v", err)
	}
	if n := tool.Stats().PendingInvalidations; n != 0 {
		t.Errorf("%d invalidations still pending after InvalidateUser succeeded", n)
	}
	f.wantView(t, f.cached, uid, "after InvalidateUser")

	f.clock.Advance(time.Second)
	f.put(t, f.direct, uid, "meta", wbo("global", "v3"))
	if err := tool.InvalidateUser(f.ctx, uid); err != nil {
		t.Fatal(err)
	}
	f.wantView(t, f.cached, uid, "after a second InvalidateUser")
}
