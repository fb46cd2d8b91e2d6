package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func withThrottleEnv(t *testing.T, mutate func(*httpapi.Config), fn func(t *testing.T, e *env)) {
	withEnv(t, mutate, fn)
}

// from sends the request from the client address addr ("host:port").
func from(addr string) reqOpt {
	return func(r *http.Request) { r.RemoteAddr = addr }
}

const (
	attacker = "203.0.113.7:40000"
	home     = "198.51.100.20:51000"
	infoPath = "/1.1/alice/info/collections"
)

// login tries alice's info/collections with password from addr.
func login(e *env, password, addr string) *resp {
	e.t.Helper()
	return e.do(http.MethodGet, infoPath, "", basicAuth("alice", password), from(addr))
}

func TestThrottleDelaysThenAcceptsTheRightPassword(t *testing.T) {
	withThrottleEnv(t, nil, func(t *testing.T, e *env) {
		e.addUser("alice", "password-alice")
		for i := range httpapi.DefaultThrottlePerUser {
			r := login(e, "guess-"+strconv.Itoa(i), attacker)
			r.expect(http.StatusUnauthorized, "authentication failed")
			// The failures before the limit carry no hint.
			if i < httpapi.DefaultThrottlePerUser-1 {
				r.expectHeader("Retry-After", "")
			}
		}
		// The limit is reached: even the right password is refused
		// (unchecked) for the first backoff of a second…
		login(e, "password-alice", home).
			expect(http.StatusUnauthorized, "authentication failed").
			expectHeader("WWW-Authenticate", `Basic realm="Sync"`).
			expectHeader("Retry-After", "1")
		e.clock.Advance(999 * time.Millisecond)
		login(e, "password-alice", home).expectStatus(http.StatusUnauthorized)
		// …and accepted once it is over.
		e.clock.Advance(time.Millisecond)
		login(e, "password-alice", home).expectJSON(http.StatusOK, `{}`)

		// The success cleared alice's count: the attacker starts over.
		for i := range httpapi.DefaultThrottlePerUser - 1 {
			login(e, "again-"+strconv.Itoa(i), attacker).expectHeader("Retry-After", "")
		}
		login(e, "password-alice", attacker).expectJSON(http.StatusOK, `{}`)
	})
}

func TestThrottleAttackerAddressWhileUserLogsIn(t *testing.T) {
	withThrottleEnv(t, nil, func(t *testing.T, e *env) {
		e.addUser("alice", "password-alice")
		// alice syncs from home: that address is now trusted for her.
		login(e, "password-alice", home).expectStatus(http.StatusOK)
		refused, unavailable := 0, 0
		for i := range 2 * httpapi.DefaultThrottlePerAddress {
			r := login(e, "guess-"+strconv.Itoa(i), attacker)
			switch r.code {
			case http.StatusUnauthorized:
				refused++
			case http.StatusServiceUnavailable:
				unavailable++
				r.expectJSON(http.StatusServiceUnavailable, `"server issue: too many failed logins"`).
					expectHeader("Retry-After", "1").
					expectHeader("X-Weave-Backoff", "1")
			default:
				t.Fatalf("guess %d: status %d", i, r.code)
			}
			// Her own device gets in every time.
			login(e, "password-alice", home).expectJSON(http.StatusOK, `{}`)
			e.clock.Advance(10 * time.Millisecond)
		}
		// Her successes keep resetting her count, so only the address
		// limit stops the attacker.
		if refused != httpapi.DefaultThrottlePerAddress || unavailable != httpapi.DefaultThrottlePerAddress {
			t.Errorf("%d guesses refused with 401 and %d with 503, want %d each", refused, unavailable, httpapi.DefaultThrottlePerAddress)
		}
		// The throttled address is refused even for a right password, and
		// for another account, without a password check.
		e.addUser("bob", "password-bob")
		e.do(http.MethodGet, "/1.1/bob/info/collections", "", basicAuth("bob", "password-bob"), from(attacker)).
			expectStatus(http.StatusServiceUnavailable)
	})
}

func TestThrottleUserFromNewAddressWaitsAtMostTheBackoff(t *testing.T) {
	withThrottleEnv(t, nil, func(t *testing.T, e *env) {
		e.addUser("alice", "password-alice")
		// Attackers spread over many addresses keep alice throttled. Her
		// new device, never seen, waits out one period and gets in.
		for i := range httpapi.DefaultThrottlePerUser {
			login(e, "guess", "203.0.113."+strconv.Itoa(i+1)+":1").expectStatus(http.StatusUnauthorized)
		}
		r := login(e, "password-alice", "192.0.2.99:1")
		r.expectStatus(http.StatusUnauthorized)
		wait, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || wait < 1 || time.Duration(wait)*time.Second > httpapi.DefaultThrottleMaxBackoff {
			t.Fatalf("Retry-After %q: want 1s to the max backoff", r.header.Get("Retry-After"))
		}
		e.clock.Advance(time.Duration(wait) * time.Second)
		login(e, "password-alice", "192.0.2.99:1").expectStatus(http.StatusOK)
	})
}

func TestThrottleBackoffGrowsAndCaps(t *testing.T) {
	cfg := func(c *httpapi.Config) {
		c.AuthThrottle = httpapi.AuthThrottleConfig{PerUser: 3, PerAddress: -1, MaxBackoff: 20 * time.Second, Window: time.Hour}
	}
	withThrottleEnv(t, cfg, func(t *testing.T, e *env) {
		e.addUser("alice", "password-alice")
		for range 2 {
			login(e, "guess", attacker).expectHeader("Retry-After", "")
		}
		// Each failure at the limit doubles the period: 1, 2, 4, 8, 16,
		// then the 20 s cap.
		for _, want := range []int{1, 2, 4, 8, 16, 20, 20} {
			login(e, "guess", attacker).expectStatus(http.StatusUnauthorized)
			login(e, "guess", attacker).expectHeader("Retry-After", strconv.Itoa(want))
			e.clock.Advance(time.Duration(want) * time.Second)
		}
		// A window without failures forgets everything.
		e.clock.Advance(time.Hour)
		for range 2 {
			login(e, "guess", attacker).expectHeader("Retry-After", "")
		}
		login(e, "guess", attacker)
		login(e, "guess", attacker).expectHeader("Retry-After", "1")
	})
}

func TestThrottleClientAddr(t *testing.T) {
	// ClientAddr replaces RemoteAddr, as the Caddy module passes the
	// address its trusted proxies reported.
	proxied := func(c *httpapi.Config) {
		c.AuthThrottle.PerAddress = 2
		c.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	}
	withThrottleEnv(t, proxied, func(t *testing.T, e *env) {
		e.addUser("alice", "password-alice")
		e.addUser("bob", "password-bob")
		viaProxy := func(user, password, client string) *resp {
			return e.do(http.MethodGet, "/1.1/"+user+"/info/collections", "", basicAuth(user, password),
				from(home), header("X-Test-Client", client))
		}
		viaProxy("alice", "x", "2001:db8:1:2::5").expectStatus(http.StatusUnauthorized)
		// Same /64: the same client.
		viaProxy("bob", "x", "2001:db8:1:2::99").expectStatus(http.StatusUnauthorized)
		viaProxy("bob", "password-bob", "2001:db8:1:2::7").expectStatus(http.StatusServiceUnavailable)
		// Another client behind the same proxy is not affected.
		viaProxy("bob", "password-bob", "2001:db8:1:3::7").expectStatus(http.StatusOK)
	})
}

func TestThrottleOff(t *testing.T) {
	off := func(c *httpapi.Config) { c.AuthThrottle = httpapi.AuthThrottleConfig{PerUser: -1, PerAddress: -1} }
	withThrottleEnv(t, off, func(t *testing.T, e *env) {
		e.addUser("alice", "password-alice")
		for range 3 * httpapi.DefaultThrottlePerAddress {
			login(e, "guess", attacker).expect(http.StatusUnauthorized, "authentication failed").expectHeader("Retry-After", "")
		}
		login(e, "password-alice", attacker).expectStatus(http.StatusOK)
	})
}

func TestThrottleLogsHashedUsernames(t *testing.T) {
	core, logs := observer.New(zapcore.InfoLevel)
	cfg := func(c *httpapi.Config) {
		c.Logger = zap.New(core)
		c.AuthThrottle = httpapi.AuthThrottleConfig{PerUser: 2, PerAddress: 2}
	}
	withThrottleEnv(t, cfg, func(t *testing.T, e *env) {
		_ = logs.TakeAll()
		for range 5 {
			login(e, "guess", attacker)
		}
		entries := logs.TakeAll()
		// One line per refusal period started, not per refused attempt.
		if len(entries) != 2 {
			t.Fatalf("%d log entries, want one for the user and one for the address: %v", len(entries), entries)
		}
		for _, en := range entries {
			f := en.ContextMap()
			if f["user_hash"] != syncstore.UserHash("alice") || f["user"] != nil {
				t.Errorf("%q: fields %v, want user_hash of alice and no user", en.Message, f)
			}
			if f["address"] != "203.0.113.7" {
				t.Errorf("%q: address %v", en.Message, f["address"])
			}
		}
	})
}

func TestThrottleConfigErrors(t *testing.T) {
	for _, c := range []httpapi.AuthThrottleConfig{
		{Window: -time.Second},
		{MaxBackoff: time.Millisecond},
		{MaxEntries: -1},
	} {
		clock := newClock()
		store := openSQLite(t, clock.Now)
		auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := httpapi.New(httpapi.Config{Store: store, Auth: auth, AuthThrottle: c}); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

// BenchmarkCachedLoginThrottle is the cost of a successful cached login
// (the heartbeat of every sync) with and without the throttle: the
// difference is the throttle's hot path.
func BenchmarkCachedLoginThrottle(b *testing.B) {
	for _, mode := range []struct {
		name string
		cfg  httpapi.AuthThrottleConfig
	}{
		{"off", httpapi.AuthThrottleConfig{PerUser: -1, PerAddress: -1}},
		{"on", httpapi.AuthThrottleConfig{}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			e := newEnv(b, backend{"sqlite", openSQLite}, func(c *httpapi.Config) { c.AuthThrottle = mode.cfg })
			e.addUser("alice", "password-alice")
			// A GET whose route needs no store call after the login:
			// an invalid collection name answers 400 right after it.
			req := httptest.NewRequest(http.MethodGet, "/1.1/alice/storage/bad$name", nil)
			req.SetBasicAuth("alice", "password-alice")
			req.RemoteAddr = home
			serve(b, e, func() *http.Request { return req }, http.StatusBadRequest)
		})
	}
}
