package httpapi

import (
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// TestThrottleMemoryBound fills every table far beyond MaxEntries: each
// stays at its bound, and the most recent entries are the ones kept.
func TestThrottleMemoryBound(t *testing.T) {
	cfg := AuthThrottleConfig{PerUser: 2, PerAddress: 2, MaxEntries: 100}
	if errs := cfg.validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	th, err := newThrottle(cfg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_300_000_000, 0)
	const n = 20000
	addrOf := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
	}
	for i := range n {
		user := "user" + strconv.Itoa(i)
		th.failed(user, addrOf(i), now)
		th.succeeded(user+"x", addrOf(i), now)
	}
	users, addrs, trusted := th.entries()
	if users > cfg.MaxEntries || addrs > cfg.MaxEntries || trusted > cfg.MaxEntries {
		t.Errorf("%d users, %d addresses, %d trusted pairs remembered; bound %d", users, addrs, trusted, cfg.MaxEntries)
	}
	if users == 0 || addrs == 0 || trusted == 0 {
		t.Errorf("%d users, %d addresses, %d trusted pairs: every table should hold the recent entries", users, addrs, trusted)
	}
	// The last user and address are remembered: one more failure each
	// reaches the limit of 2.
	last := "user" + strconv.Itoa(n-1)
	if uw, aw := th.failed(last, addrOf(n-1), now); uw != throttleFirstBackoff || aw != throttleFirstBackoff {
		t.Errorf("second failure of the newest user and address: waits %s, %s; want %s each", uw, aw, throttleFirstBackoff)
	}
}

func TestThrottleAddr(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:1234":             "192.0.2.1",
		"192.0.2.1":                  "192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":       "2001:db8:1:2::",
		"[2001:db8:1:2::9%eth0]:443": "2001:db8:1:2::",
		"fe80::1%eth0":               "fe80::",
		"@":                          "invalid IP",
		"":                           "invalid IP",
		"sync.example.com:443":       "invalid IP",
	} {
		if got := throttleAddr(in).String(); got != want {
			t.Errorf("throttleAddr(%q) = %s, want %s", in, got, want)
		}
	}
}
