package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// AuthThrottle limits password guessing. Failed logins are counted per
// username and per client address (Caddy's client IP, so configure the
// server's trusted_proxies when a proxy sits in front). Once a count
// reaches its limit, further logins are refused without checking the
// password (no bcrypt cost) for 1s, doubling with every failure after
// that up to max_backoff: a throttled username gets 401, a throttled
// address 503 with Retry-After. A user's own devices (addresses that
// logged in for them within 24h) are exempt from the per-user limit, and
// a successful login clears it, so an attacker cannot lock a user out.
type AuthThrottle struct {
	// PerUser is the failed logins of one username before it is
	// throttled. Default 10; negative turns the per-user limit off.
	PerUser int `json:"per_user,omitempty"`

	// PerAddress is the failed logins from one client address (IPv6: one
	// /64) before it is throttled. Default 30; negative turns it off.
	PerAddress int `json:"per_address,omitempty"`

	// Window is how long a count is kept without a new failure. Default
	// 15m.
	Window caddy.Duration `json:"window,omitempty"`

	// MaxBackoff caps the refusal period. Default 5m; at least 1s.
	MaxBackoff caddy.Duration `json:"max_backoff,omitempty"`

	// MaxEntries bounds the usernames, the addresses and the trusted
	// (user, address) pairs remembered, each. Default 10000.
	MaxEntries int `json:"max_entries,omitempty"`
}

func (a *AuthThrottle) validate() error {
	if a == nil {
		return nil
	}
	if a.Window < 0 {
		return fmt.Errorf("auth_throttle: window must not be negative (got %s)", time.Duration(a.Window))
	}
	if a.MaxBackoff != 0 && time.Duration(a.MaxBackoff) < time.Second {
		return fmt.Errorf("auth_throttle: max_backoff %s: use at least 1s", time.Duration(a.MaxBackoff))
	}
	if a.MaxEntries < 0 {
		return fmt.Errorf("auth_throttle: max_entries must not be negative (got %d)", a.MaxEntries)
	}
	return nil
}

func (a *AuthThrottle) httpapi() httpapi.AuthThrottleConfig {
	if a == nil {
		return httpapi.AuthThrottleConfig{}
	}
	return httpapi.AuthThrottleConfig{
		PerUser:    a.PerUser,
		PerAddress: a.PerAddress,
		Window:     time.Duration(a.Window),
		MaxBackoff: time.Duration(a.MaxBackoff),
		MaxEntries: a.MaxEntries,
	}
}

// clientIP is the address Caddy resolved for the request: the peer, or
// the client a trusted proxy reported.
func clientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	return r.RemoteAddr
}

// parseAuthThrottle reads "auth_throttle off" or a block of per_user,
// per_address (each a number or off), window, max_backoff, max_entries.
func parseAuthThrottle(d *caddyfile.Dispenser) (*AuthThrottle, error) {
	a := new(AuthThrottle)
	off := false
	if d.NextArg() {
		if d.Val() != "off" || d.NextArg() {
			return nil, d.ArgErr()
		}
		a.PerUser, a.PerAddress = -1, -1
		off = true
	}
	seen := once{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := seen.check(d); err != nil {
			return nil, err
		}
		if off && (d.Val() == "per_user" || d.Val() == "per_address") {
			return nil, d.Errf("auth_throttle off turns both limits off, so %s would contradict it: drop off to set limits, or write %s off", d.Val(), d.Val())
		}
		var err error
		switch sub := d.Val(); sub {
		case "per_user":
			a.PerUser, err = intOrOff(d)
		case "per_address":
			a.PerAddress, err = intOrOff(d)
		case "window":
			a.Window, err = durationArg(d)
		case "max_backoff":
			a.MaxBackoff, err = durationArg(d)
		case "max_entries":
			a.MaxEntries, err = positiveIntArg(d)
		default:
			return nil, d.Errf("unknown auth_throttle subdirective %q", sub)
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

// intOrOff reads a whole number, or "off" as -1.
func intOrOff(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	if s == "off" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, d.Errf("%s %q: want a whole number or off", name, s)
	}
	if n == 0 {
		return 0, zeroIsDefault(d, name, s, true)
	}
	return n, nil
}
