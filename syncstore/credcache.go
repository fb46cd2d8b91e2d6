package syncstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults for the verified-credentials cache.
const (
	DefaultCredCacheTTL  = 5 * time.Minute
	DefaultCredCacheSize = 10000
)

// credKey identifies one (username, password) pair without containing the
// password: an HMAC under a key that lives only in this process, so a
// memory dump of the cache cannot be brute-forced offline the way a plain
// hash could.
type credKey [sha256.Size]byte

// credCache remembers recently verified credentials so that a Sync client,
// which sends Basic auth with every request, does not pay for bcrypt on each
// one.
//
// Lock order: opMu, then the LRU's internal lock, then idxMu. The LRU calls
// onEvict with its lock held, so onEvict may only take idxMu, and nothing
// may call into the LRU while holding idxMu.
type credCache struct {
	hmacKey []byte
	// macs recycles keyed HMACs (keyMAC): deriving a key is on every
	// request, and a new HMAC allocates and hashes its key pads each
	// time.
	macs sync.Pool
	// lru is nil when caching is disabled. Entries expire lazily, on the
	// lookup that finds them stale, rather than through the expirable
	// LRU's sweeper goroutine: that goroutine cannot be stopped, and a
	// cache is built on every config reload.
	lru *lru.Cache[credKey, credEntry]
	ttl time.Duration

	// opMu makes add and forget atomic with respect to each other, so an
	// entry can never be added to the LRU after forget collected the keys
	// of its user.
	opMu sync.Mutex
	// epoch counts forget calls. A verification that began before a forget
	// may have read the old password hash; add refuses its result.
	epoch uint64

	idxMu  sync.Mutex
	byName map[string]map[credKey]struct{}
}

type credEntry struct {
	name    string // the normalized username, to find the entry's index set
	user    User
	expires time.Time
}

// newCredCache builds a cache holding up to size entries for ttl each.
// size < 0 disables caching (keys are still derived, for singleflight).
func newCredCache(size int, ttl time.Duration) (*credCache, error) {
	c := &credCache{
		hmacKey: make([]byte, sha256.Size),
		byName:  make(map[string]map[credKey]struct{}),
	}
	if _, err := rand.Read(c.hmacKey); err != nil {
		return nil, fmt.Errorf("generating credential cache key: %w", err)
	}
	if size < 0 {
		return c, nil
	}
	if size == 0 {
		size = DefaultCredCacheSize
	}
	if ttl <= 0 {
		ttl = DefaultCredCacheTTL
	}
	cache, err := lru.NewWithEvict[credKey, credEntry](size, c.onEvict)
	if err != nil {
		return nil, fmt.Errorf("creating credential cache: %w", err)
	}
	c.lru, c.ttl = cache, ttl
	return c, nil
}

// key derives the cache key of a login attempt. The 0x00 separator keeps
// ("ab", "c") and ("a", "bc") apart; usernames never contain NUL.
func (c *credCache) key(name, password string) credKey {
	m, _ := c.macs.Get().(*keyMAC)
	if m == nil {
		m = &keyMAC{mac: hmac.New(sha256.New, c.hmacKey)}
	}
	m.buf = append(append(append(m.buf[:0], NormalizeUsername(name)...), 0), password...)
	m.mac.Reset()
	m.mac.Write(m.buf)
	// Sum appends through an interface, so a local array would move to
	// the heap on every request; the pooled one is there already.
	k := credKey(m.mac.Sum(m.sum[:0]))
	clear(m.buf) // the password does not outlive the call in the pool
	c.macs.Put(m)
	return k
}

// keyMAC is an HMAC under the cache's key, with buffers for its input
// and its output.
type keyMAC struct {
	mac hash.Hash
	buf []byte
	sum credKey
}

// get returns a copy of the cached user for k.
func (c *credCache) get(k credKey) (*User, bool) {
	if c.lru == nil {
		return nil, false
	}
	e, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	if !time.Now().Before(e.expires) {
		c.lru.Remove(k)
		return nil, false
	}
	u := e.user
	return &u, true
}

// credEpoch is taken before a verification starts and handed to add.
type credEpoch struct {
	n uint64
	// at dates the entry: a password changed by another instance, which
	// cannot make this cache forget, stops working here ttl after the
	// change at most, however long the verification that read the old
	// hash took.
	at time.Time
}

// currentEpoch is read before a verification starts and handed to add.
func (c *credCache) currentEpoch() credEpoch {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	return credEpoch{n: c.epoch, at: time.Now()}
}

// add caches a copy of u under k, until ttl after epoch was taken, unless
// a forget happened since, in which case the verification may have used a
// stale hash.
func (c *credCache) add(k credKey, u *User, epoch credEpoch) {
	if c.lru == nil {
		return
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.epoch != epoch.n {
		return
	}
	name := NormalizeUsername(u.Name)
	// Index before inserting: the insert may evict, and an evicted key
	// must already be known to the index to be removed from it.
	c.idxMu.Lock()
	set := c.byName[name]
	if set == nil {
		set = make(map[credKey]struct{})
		c.byName[name] = set
	}
	set[k] = struct{}{}
	c.idxMu.Unlock()
	c.lru.Add(k, credEntry{name: name, user: *u, expires: epoch.at.Add(c.ttl)})
}

// forget drops every cached credential of the user and makes in-flight
// verifications uncacheable.
func (c *credCache) forget(name string) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.epoch++
	if c.lru == nil {
		return
	}
	name = NormalizeUsername(name)
	c.idxMu.Lock()
	set := c.byName[name]
	delete(c.byName, name)
	c.idxMu.Unlock()
	for k := range set {
		c.lru.Remove(k)
	}
}

// purge empties the cache, releasing the entries when the owner is
// discarded, e.g. on a config reload.
func (c *credCache) purge() {
	if c.lru == nil {
		return
	}
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.lru.Purge()
}

// len reports the number of cached entries, expired ones not yet swept
// included.
func (c *credCache) len() int {
	if c.lru == nil {
		return 0
	}
	return c.lru.Len()
}

// onEvict keeps the per-user index in step with removals, expiries and
// size evictions. Called with the LRU's lock held.
func (c *credCache) onEvict(k credKey, e credEntry) {
	c.idxMu.Lock()
	defer c.idxMu.Unlock()
	set := c.byName[e.name]
	if set == nil {
		return
	}
	delete(set, k)
	if len(set) == 0 {
		delete(c.byName, e.name)
	}
}
