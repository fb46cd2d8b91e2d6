package memcache

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMemcachedKilledAndRestarted kills memcached in the middle of a run:
// no call may fail, the failures are counted, and once memcached is back
// the cache is used again without anyone doing anything.
func TestMemcachedKilledAndRestarted(t *testing.T) {
	mc := testservices.StartMemcached(t)
	f := newFixture(t, mc.Addr())
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "meta", wbo("global", "v1"))
	f.wantView(t, f.cached, uid, "fill")
	f.wantView(t, f.cached, uid, "hit")
	if f.cached.Stats().Hits == 0 {
		t.Fatal("no cache hits before the kill")
	}

	mc.Kill()
	for i := range 20 {
		f.clock.Advance(time.Second)
		if i%5 == 0 {
			f.put(t, f.cached, uid, "history", wbo("h", string(rune('a'+i))))
		}
		f.wantView(t, f.cached, uid, "memcached down") // fails the test on any error
	}
	down := f.cached.Stats()
	if down.Errors == 0 {
		t.Error("memcached was down but no cache errors were counted")
	}
	if down.PendingInvalidations == 0 {
		t.Error("writes while memcached was down left no pending invalidation")
	}

	mc.Start() // empty, as after a crash
	waitFor(t, "pending invalidations to be delivered", func() bool { return f.cached.Stats().PendingInvalidations == 0 })
	waitFor(t, "cache hits after the restart", func() bool {
		f.wantView(t, f.cached, uid, "memcached back")
		return f.cached.Stats().Hits > down.Hits
	})
	f.clock.Advance(time.Second)
	f.put(t, f.cached, uid, "meta", wbo("global", "v2"))
	f.wantView(t, f.cached, uid, "write after the restart")
}

// blackhole accepts connections and never answers, like a hung memcached
// or a firewall that drops packets after the handshake.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// TestHungMemcached: a memcached that accepts but never answers costs one
// timeout, then reads skip it for the cooldown; nothing fails or hangs.
func TestHungMemcached(t *testing.T) {
	f := newFixture(t, testservices.Memcached(t)) // only for the database
	cfg := testConfig(t, blackhole(t))
	cfg.Timeout = 50 * time.Millisecond
	cfg.Cooldown = time.Hour // so every later read provably skips memcached
	s := f.another(t, cfg)
	uid := f.user(t, "alice")
	f.put(t, s, uid, "meta", wbo("global", "v1"))

	// A hang here ends in go test's -timeout.
	for range 5 {
		f.wantView(t, s, uid, "hung memcached")
	}
	st := s.Stats()
	if st.Errors != 1 {
		t.Errorf("errors = %d, want exactly 1 (the first timeout, then the cooldown)", st.Errors)
	}
	if st.Hits != 0 || st.Bypasses < 19 {
		t.Errorf("hits = %d, bypasses = %d; want every read answered by the database", st.Hits, st.Bypasses)
	}
	if st.PendingInvalidations != 1 {
		t.Errorf("pending invalidations = %d, want 1 (the upload's)", st.PendingInvalidations)
	}
}

// proxy forwards TCP to target until cut, so one instance can lose
// memcached while another keeps it.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		l.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *proxy) addr() string { return p.l.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
		p.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
	}
}

// setCut drops every connection and refuses new ones, or lets them in
// again.
func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

// TestPartitionedInstanceInvalidatesLater: an instance that cannot reach
// memcached when it writes delivers the invalidation once it can, so the
// other instances stop serving the old answer; meanwhile it reads that
// user from the database itself.
func TestPartitionedInstanceInvalidatesLater(t *testing.T) {
	mc := testservices.Memcached(t)
	f := newFixture(t, mc)
	p := newProxy(t, mc)
	cfgA := f.cfg
	cfgA.Servers = []string{p.addr()}
	a := f.another(t, cfgA) // reaches memcached through the proxy
	b := f.cached           // reaches it directly
	uid := f.user(t, "alice")
	f.put(t, b, uid, "meta", wbo("global", "v1"))
	f.wantView(t, a, uid, "A fills")
	f.wantView(t, b, uid, "B hits")

	p.setCut(true)
	f.clock.Advance(time.Second)
	f.put(t, a, uid, "meta", wbo("global", "v2"))
	if a.Stats().PendingInvalidations != 1 {
		t.Fatalf("A's invalidation should be pending while it cannot reach memcached")
	}
	f.wantView(t, a, uid, "A reads its own write while partitioned")

	p.setCut(false)
	waitFor(t, "A's pending invalidation", func() bool { return a.Stats().PendingInvalidations == 0 })
	f.wantView(t, b, uid, "B after A's invalidation arrived")
	hits := a.Stats().Hits
	f.wantView(t, a, uid, "A fills again")
	f.wantView(t, a, uid, "A hits again")
	if a.Stats().Hits == hits {
		t.Error("A does not use the cache again after the partition healed")
	}
}

// TestDownAtStart: New succeeds without memcached and the cache starts
// working when memcached appears.
func TestDownAtStart(t *testing.T) {
	mc := testservices.StartMemcached(t)
	mc.Kill()
	f := newFixture(t, mc.Addr())
	uid := f.user(t, "alice")
	f.put(t, f.cached, uid, "crypto", wbo("keys", "k"))
	f.wantView(t, f.cached, uid, "no memcached")
	mc.Start()
	waitFor(t, "cache hits once memcached is up", func() bool {
		f.wantView(t, f.cached, uid, "memcached up")
		return f.cached.Stats().Hits > 0
	})
}
