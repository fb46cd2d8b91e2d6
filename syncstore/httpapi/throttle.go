package httpapi

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults of AuthThrottleConfig.
const (
	DefaultThrottlePerUser    = 10
	DefaultThrottlePerAddress = 30
	DefaultThrottleWindow     = 15 * time.Minute
	DefaultThrottleMaxBackoff = 5 * time.Minute
	DefaultThrottleMaxEntries = 10000
)

// throttleFirstBackoff is the first refusal period once a limit is reached;
// each further failure after it doubles the period up to MaxBackoff.
const throttleFirstBackoff = time.Second

// throttleTrustTTL is how long a successful login makes its address
// immune to the per-user throttle. A Sync client logs in every few
// minutes from the same address, so an attacker guessing a password from
// elsewhere cannot keep the user's own devices out.
const throttleTrustTTL = 24 * time.Hour

// throttleTrustRefresh limits how often a trusted pair's timestamp is
// rewritten, so a steady stream of successful logins mostly only reads.
const throttleTrustRefresh = time.Minute

// AuthThrottleConfig limits password guessing. Failed logins (a wrong
// password or unknown user, checked against the store) are counted per
// username and per client address; once a count reaches its limit,
// further attempts are refused without checking the password, for one
// second, doubling with each failure after the limit up to MaxBackoff. A
// count is forgotten after Window without failures.
//
// A throttled username gets 401, like a wrong password, except from an
// address the user logged in from in the last 24 hours, and a successful
// login from an address that is not throttled clears the username's
// count: an attacker can delay a user's logins from a new address by at
// most MaxBackoff at a time, never lock the account. A throttled address
// gets 503 with Retry-After. IPv6 addresses are counted per /64.
type AuthThrottleConfig struct {
	// PerUser is the failed logins of one username before it is
	// throttled (0: DefaultThrottlePerUser, < 0: no per-user throttle).
	PerUser int
	// PerAddress is the failed logins from one client address before it
	// is throttled (0: DefaultThrottlePerAddress, < 0: no per-address
	// throttle).
	PerAddress int
	// Window is how long a count survives without a new failure, measured
	// from the end of the last refusal period (0: DefaultThrottleWindow).
	Window time.Duration
	// MaxBackoff caps the refusal period (0: DefaultThrottleMaxBackoff;
	// at least a second).
	MaxBackoff time.Duration
	// MaxEntries bounds the usernames, the addresses and the trusted
	// (username, address) pairs remembered, each; the least recently used
	// are dropped first (0: DefaultThrottleMaxEntries).
	MaxEntries int
}

// validate fills in defaults and reports the first mistakes.
func (c *AuthThrottleConfig) validate() []error {
	var errs []error
	if c.PerUser == 0 {
		c.PerUser = DefaultThrottlePerUser
	}
	if c.PerAddress == 0 {
		c.PerAddress = DefaultThrottlePerAddress
	}
	switch {
	case c.Window == 0:
		c.Window = DefaultThrottleWindow
	case c.Window < 0:
		errs = append(errs, fmt.Errorf("auth throttle window %s is negative", c.Window))
	}
	switch {
	case c.MaxBackoff == 0:
		c.MaxBackoff = DefaultThrottleMaxBackoff
	case c.MaxBackoff < throttleFirstBackoff:
		errs = append(errs, fmt.Errorf("auth throttle max backoff %s is less than %s", c.MaxBackoff, throttleFirstBackoff))
	}
	switch {
	case c.MaxEntries == 0:
		c.MaxEntries = DefaultThrottleMaxEntries
	case c.MaxEntries < 0:
		errs = append(errs, fmt.Errorf("auth throttle max entries %d is negative", c.MaxEntries))
	}
	return errs
}

// strikes is the failure record of one username or address.
type strikes struct {
	failures int
	last     time.Time     // the last counted failure
	until    time.Time     // attempts before this are refused unchecked
	backoff  time.Duration // the refusal period last imposed
}

// trustKey is a (username, address) pair that logged in successfully.
type trustKey struct {
	user string
	addr netip.Addr
}

// throttle holds the failure counts. It starts no goroutine: entries are
// bounded by LRU eviction and judged stale when looked at, so a config
// reload leaves nothing running behind.
type throttle struct {
	perUser, perAddr int
	window, max      time.Duration

	// mu guards the LRUs (simplelru is not safe for concurrent use) and
	// the strikes they point to. Every critical section is a few map
	// operations.
	mu    sync.Mutex
	users *simplelru.LRU[string, *strikes]     // nil: no per-user throttle
	addrs *simplelru.LRU[netip.Addr, *strikes] // nil: no per-address throttle
	trust *simplelru.LRU[trustKey, time.Time]  // last successful login
}

// newThrottle returns nil when both limits are off.
func newThrottle(c AuthThrottleConfig) (*throttle, error) {
	if c.PerUser < 0 && c.PerAddress < 0 {
		return nil, nil
	}
	t := &throttle{perUser: c.PerUser, perAddr: c.PerAddress, window: c.Window, max: c.MaxBackoff}
	var err error
	if c.PerUser > 0 {
		if t.users, err = simplelru.NewLRU[string, *strikes](c.MaxEntries, nil); err != nil {
			return nil, fmt.Errorf("creating the per-user throttle: %w", err)
		}
		if t.trust, err = simplelru.NewLRU[trustKey, time.Time](c.MaxEntries, nil); err != nil {
			return nil, fmt.Errorf("creating the trusted address list: %w", err)
		}
	}
	if c.PerAddress > 0 {
		if t.addrs, err = simplelru.NewLRU[netip.Addr, *strikes](c.MaxEntries, nil); err != nil {
			return nil, fmt.Errorf("creating the per-address throttle: %w", err)
		}
	}
	return t, nil
}

// throttleAddr is the address a client is counted under: the IP without
// zone, IPv4-mapped IPv6 as IPv4, other IPv6 as its /64 (one host usually
// holds a whole /64). The zero Addr (not counted) when s is no IP.
func throttleAddr(s string) netip.Addr {
	// Pick the parser by shape: a failed parse allocates its error, and
	// this runs on every authenticated request.
	var (
		a   netip.Addr
		err error
	)
	if strings.HasPrefix(s, "[") || strings.Count(s, ":") == 1 {
		var ap netip.AddrPort
		ap, err = netip.ParseAddrPort(s)
		a = ap.Addr()
	} else {
		a, err = netip.ParseAddr(s)
	}
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return a
}

// verdict says whether an attempt may check its password.
type verdict uint8

const (
	allowed verdict = iota
	userThrottled
	addrThrottled
)

// check judges an attempt by user from addr before its password is
// looked at; wait is how long the refusal lasts.
func (t *throttle) check(user string, addr netip.Addr, now time.Time) (verdict, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.addrs != nil && addr.IsValid() {
		if s, ok := t.addrs.Peek(addr); ok && now.Before(s.until) {
			return addrThrottled, s.until.Sub(now)
		}
	}
	if t.users != nil {
		if s, ok := t.users.Peek(user); ok && now.Before(s.until) && !t.trustedLocked(user, addr, now) {
			return userThrottled, s.until.Sub(now)
		}
	}
	return allowed, 0
}

func (t *throttle) trustedLocked(user string, addr netip.Addr, now time.Time) bool {
	if !addr.IsValid() {
		return false
	}
	last, ok := t.trust.Peek(trustKey{user, addr})
	return ok && now.Sub(last) < throttleTrustTTL
}

// succeeded clears the username's count and trusts the address for it.
// Only called for attempts check allowed, so addr is not throttled.
func (t *throttle) succeeded(user string, addr netip.Addr, now time.Time) {
	if t.users == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.users.Remove(user)
	if !addr.IsValid() {
		return
	}
	k := trustKey{user, addr}
	if last, ok := t.trust.Get(k); !ok || now.Sub(last) >= throttleTrustRefresh {
		t.trust.Add(k, now)
	}
}

// failed counts a wrong password. It returns the refusal periods that
// this failure starts (0: none) for the username and the address.
func (t *throttle) failed(user string, addr netip.Addr, now time.Time) (userWait, addrWait time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.users != nil {
		// A device with a stale password must not stay exempt.
		t.trust.Remove(trustKey{user, addr})
		s, ok := t.users.Get(user)
		if !ok {
			s = new(strikes)
			t.users.Add(user, s)
		}
		userWait = t.strike(s, t.perUser, now)
	}
	if t.addrs != nil && addr.IsValid() {
		s, ok := t.addrs.Get(addr)
		if !ok {
			s = new(strikes)
			t.addrs.Add(addr, s)
		}
		addrWait = t.strike(s, t.perAddr, now)
	}
	return userWait, addrWait
}

// strike counts one failure against limit and, once it is reached,
// starts a refusal period twice the previous one.
func (t *throttle) strike(s *strikes, limit int, now time.Time) time.Duration {
	quietSince := s.last
	if s.until.After(quietSince) {
		quietSince = s.until
	}
	if s.failures > 0 && now.Sub(quietSince) >= t.window {
		*s = strikes{}
	}
	s.failures++
	s.last = now
	if s.failures < limit {
		return 0
	}
	switch {
	case s.backoff == 0:
		s.backoff = throttleFirstBackoff
	case s.backoff < t.max:
		s.backoff *= 2
	}
	s.backoff = min(s.backoff, t.max)
	s.until = now.Add(s.backoff)
	return s.backoff
}

// entries reports how many usernames, addresses and trusted pairs are
// remembered.
func (t *throttle) entries() (users, addrs, trusted int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.users != nil {
		users, trusted = t.users.Len(), t.trust.Len()
	}
	if t.addrs != nil {
		addrs = t.addrs.Len()
	}
	return users, addrs, trusted
}
