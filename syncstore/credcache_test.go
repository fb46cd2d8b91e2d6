package syncstore

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func newTestCache(t *testing.T, size int, ttl time.Duration) *credCache {
	t.Helper()
	c, err := newCredCache(size, ttl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.purge)
	return c
}

// indexed counts the keys the per-user index holds for name.
func (c *credCache) indexed(name string) int {
	c.idxMu.Lock()
	defer c.idxMu.Unlock()
	return len(c.byName[name])
}

func TestCredCacheKey(t *testing.T) {
	c := newTestCache(t, 10, time.Minute)
	k := c.key("alice", "secret-password")
	if bytes.Contains(k[:], []byte("secret")) {
		t.Error("key contains the password")
	}
	if k != c.key("ALICE", "secret-password") {
		t.Error("key depends on the username's case")
	}
	distinct := map[credKey]string{k: "alice/secret-password"}
	for _, p := range [][2]string{
		{"alice", "secret-passwor"},
		{"bob", "secret-password"},
		// Without a separator these would collide with each other.
		{"ab", "c"},
		{"a", "bc"},
	} {
		pk := c.key(p[0], p[1])
		if prev, dup := distinct[pk]; dup {
			t.Errorf("key(%q, %q) equals the key of %s", p[0], p[1], prev)
		}
		distinct[pk] = p[0] + "/" + p[1]
	}
	other := newTestCache(t, 10, time.Minute)
	if other.key("alice", "secret-password") == k {
		t.Error("two caches derive the same key: the HMAC key is not random per cache")
	}
}

func TestCredCacheGetReturnsCopy(t *testing.T) {
	c := newTestCache(t, 10, time.Minute)
	k := c.key("alice", "pw")
	orig := &User{ID: 7, Name: "alice", PasswordHash: "h", Email: "a@example.com"}
	c.add(k, orig, c.currentEpoch())
	orig.Email = "changed-by-caller@example.com"

	got, ok := c.get(k)
	if !ok {
		t.Fatal("miss right after add")
	}
	if got.Email != "a@example.com" || got.ID != 7 {
		t.Fatalf("cached user = %+v; add did not store a copy", got)
	}
	got.Email = "mutated@example.com"
	again, _ := c.get(k)
	if again.Email != "a@example.com" {
		t.Error("get handed out the cached value itself")
	}
}

func TestCredCacheForget(t *testing.T) {
	c := newTestCache(t, 100, time.Minute)
	alice := &User{ID: 1, Name: "alice"}
	bob := &User{ID: 2, Name: "bob"}
	var aliceKeys []credKey
	for i := range 3 {
		k := c.key("alice", fmt.Sprint("pw", i))
		aliceKeys = append(aliceKeys, k)
		c.add(k, alice, c.currentEpoch())
	}
	bobKey := c.key("bob", "pw")
	c.add(bobKey, bob, c.currentEpoch())
	if n := c.indexed("alice"); n != 3 {
		t.Fatalf("index holds %d keys for alice, want 3", n)
	}

	c.forget("ALICE") // names are compared case-insensitively
	for i, k := range aliceKeys {
		if _, ok := c.get(k); ok {
			t.Errorf("alice's entry %d survived forget", i)
		}
	}
	if _, ok := c.get(bobKey); !ok {
		t.Error("forget(alice) dropped bob's entry")
	}
	if n := c.indexed("alice"); n != 0 {
		t.Errorf("index still holds %d keys for alice", n)
	}
	if n := c.len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}
}

func TestCredCacheAddAfterForgetIsRefused(t *testing.T) {
	c := newTestCache(t, 10, time.Minute)
	epoch := c.currentEpoch() // a verification starts, reading the old hash
	c.forget("alice")         // meanwhile the password changes
	k := c.key("alice", "old-password")
	c.add(k, &User{ID: 1, Name: "alice"}, epoch)
	if _, ok := c.get(k); ok {
		t.Error("a verification that began before forget was cached")
	}
	c.add(k, &User{ID: 1, Name: "alice"}, c.currentEpoch())
	if _, ok := c.get(k); !ok {
		t.Error("add with the current epoch was refused")
	}
}

func TestCredCacheSizeBound(t *testing.T) {
	c := newTestCache(t, 3, time.Minute)
	var keys []credKey
	for i := range 5 {
		name := fmt.Sprint("user", i)
		k := c.key(name, "pw")
		keys = append(keys, k)
		c.add(k, &User{ID: int64(i), Name: name}, c.currentEpoch())
	}
	if n := c.len(); n != 3 {
		t.Fatalf("cache holds %d entries, bound is 3", n)
	}
	for i, k := range keys {
		_, ok := c.get(k)
		if want := i >= 2; ok != want {
			t.Errorf("entry %d cached = %v, want %v (oldest go first)", i, ok, want)
		}
	}
	// Evictions must clean the index too, or it grows without bound.
	for _, name := range []string{"user0", "user1"} {
		if n := c.indexed(name); n != 0 {
			t.Errorf("index keeps %d evicted keys for %s", n, name)
		}
	}
	if n := c.indexed("user4"); n != 1 {
		t.Errorf("index holds %d keys for user4, want 1", n)
	}
}

func TestCredCacheTTL(t *testing.T) {
	const ttl = 50 * time.Millisecond
	c := newTestCache(t, 10, ttl)
	k := c.key("alice", "pw")
	c.add(k, &User{ID: 1, Name: "alice"}, c.currentEpoch())
	if _, ok := c.get(k); !ok {
		t.Fatal("miss right after add")
	}
	time.Sleep(3 * ttl)
	if _, ok := c.get(k); ok {
		t.Error("entry still served after its TTL")
	}
}

func TestCredCacheDisabled(t *testing.T) {
	c := newTestCache(t, -1, time.Minute)
	k := c.key("alice", "pw")
	c.add(k, &User{ID: 1, Name: "alice"}, c.currentEpoch())
	if _, ok := c.get(k); ok {
		t.Error("disabled cache served an entry")
	}
	c.forget("alice") // must not panic without an LRU
	if k == (credKey{}) {
		t.Error("disabled cache derives no keys; singleflight needs them")
	}
}

func TestCredCachePurge(t *testing.T) {
	c := newTestCache(t, 10, time.Minute)
	k := c.key("alice", "pw")
	c.add(k, &User{ID: 1, Name: "alice"}, c.currentEpoch())
	c.purge()
	if _, ok := c.get(k); ok {
		t.Error("entry survived purge")
	}
	if n := c.indexed("alice"); n != 0 {
		t.Errorf("index keeps %d keys after purge", n)
	}
}

func TestCredCacheDefaults(t *testing.T) {
	c := newTestCache(t, 0, 0)
	for i := range DefaultCredCacheSize + 5 {
		name := fmt.Sprint("u", i)
		c.add(c.key(name, "pw"), &User{ID: int64(i), Name: name}, c.currentEpoch())
	}
	if n := c.len(); n != DefaultCredCacheSize {
		t.Errorf("size 0 bounded the cache at %d, want %d", n, DefaultCredCacheSize)
	}
}

// TestCredCacheStartsNoGoroutine: a cache is built on every config reload,
// so it must not leave a sweeper goroutine behind (the expirable LRU did).
func TestCredCacheStartsNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 50 {
		c, err := newCredCache(10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c.purge()
	}
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("goroutines went from %d to %d after building 50 caches", before, after)
	}
}
