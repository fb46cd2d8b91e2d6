package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/syncserver/syncserver/caddymodule/shim"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h       Handler
		wantErr string // "" = valid
	}{
		{"defaults", Handler{}, ""},
		{"full mysql", Handler{
			Database:     &Database{Driver: "mysql", DSN: "u:p@tcp(db:3306)/s", MaxOpenConns: 5, MaxIdleConns: 2, ConnMaxLifetime: caddy.Duration(time.Minute)},
			Memcached:    &Memcached{Servers: []string{"127.0.0.1:11211", "/run/memcached.sock"}},
			PublicURL:    "https://sync.example.com",
			Registration: "allowlist", Allowlist: []string{"alice@example.com"},
			Captcha:    &Captcha{PublicKey: "a", PrivateKey: "b"},
			QuotaBytes: ptr(int64(0)), RetryAfter: caddy.Duration(time.Minute), BcryptCost: 12,
			PurgeInterval: ptr(caddy.Duration(0)),
		}, ""},
		{"unknown driver", Handler{Database: &Database{Driver: "postgres"}}, `unknown driver "postgres"`},
		{"mysql without dsn", Handler{Database: &Database{Driver: "mysql"}}, "the mysql driver needs a dsn"},
		{"mysql with dir", Handler{Database: &Database{Driver: "mysql", DSN: "x", Dir: "d"}}, "dir is for the sqlite driver"},
		{"sqlite with dsn", Handler{Database: &Database{DSN: "x"}}, "dsn is for the mysql driver"},
		{"sqlite with pool settings", Handler{Database: &Database{MaxOpenConns: 3}}, "are for the mysql driver"},
		{"negative pool", Handler{Database: &Database{Driver: "mysql", DSN: "x", MaxIdleConns: -1}}, "must not be negative"},
		{"bad registration", Handler{Registration: "invite"}, `registration "invite": must be`},
		{"allowlist without entries", Handler{Registration: "allowlist"}, "needs at least one entry"},
		{"allowlist with open registration", Handler{Allowlist: []string{"a"}}, "only used with registration"},
		{"public_url not a URL", Handler{PublicURL: "sync.example.com"}, "must be an absolute http:// or https:// URL"},
		{"public_url ftp", Handler{PublicURL: "ftp://sync.example.com/"}, "must be an absolute http:// or https:// URL"},
		{"public_url with query", Handler{PublicURL: "https://sync.example.com/?a=b"}, "must not have credentials, a query or a fragment"},
		{"public_url with credentials", Handler{PublicURL: "https://u:p@sync.example.com/"}, "must not have credentials"},
		{"negative quota", Handler{QuotaBytes: ptr(int64(-1))}, "quota_bytes must not be negative"},
		{"negative max_post_records", Handler{MaxPostRecords: -1}, "max_post_records must not be negative"},
		{"negative max_post_bytes", Handler{MaxPostBytes: -1}, "max_post_bytes must not be negative"},
		{"negative max_payload_bytes", Handler{MaxPayloadBytes: -1}, "max_payload_bytes must not be negative"},
		{"negative max_request_bytes", Handler{MaxRequestBytes: -1}, "max_request_bytes must not be negative"},
		{"negative retry_after", Handler{RetryAfter: -1}, "retry_after must not be negative"},
		{"sub-second retry_after", Handler{RetryAfter: caddy.Duration(time.Millisecond)}, "at least 1s"},
		{"negative auth_cache_ttl", Handler{AuthCacheTTL: -1}, "auth_cache_ttl must not be negative"},
		{"negative purge_interval", Handler{PurgeInterval: ptr(caddy.Duration(-time.Second))}, "purge_interval must not be negative"},
		{"bcrypt cost too low", Handler{BcryptCost: 3}, "bcrypt_cost 3"},
		{"bcrypt cost too high", Handler{BcryptCost: 32}, "bcrypt_cost 32"},
		{"payload larger than post", Handler{MaxPayloadBytes: 2 << 20, MaxPostBytes: 1 << 20}, "could never be uploaded"},
		// The limits are compared as they apply, defaults included.
		{"payload larger than default post", Handler{MaxPayloadBytes: 2 << 20}, "max_payload_bytes (2097152) larger than max_post_bytes (1048576, the default)"},
		{"post smaller than default payload", Handler{MaxPostBytes: 100 << 10}, "max_payload_bytes (262144, the default) larger than max_post_bytes (102400)"},
		{"request smaller than payload", Handler{MaxRequestBytes: 100 << 10}, "max_request_bytes (102400) less than max_payload_bytes (262144, the default)"},
		{"negative duration shown as one", Handler{BodyWait: caddy.Duration(-time.Second)}, "body_wait must not be negative (got -1s)"},
		{"captcha missing key", Handler{Captcha: &Captcha{PublicKey: "a"}}, "public_key and private_key are both required"},
		{"captcha bad verify_url", Handler{Captcha: &Captcha{PublicKey: "a", PrivateKey: "b", VerifyURL: "/verify"}}, "verify_url"},
		{"auth_throttle off", Handler{AuthThrottle: &AuthThrottle{PerUser: -1, PerAddress: -1}}, ""},
		{"auth_throttle negative window", Handler{AuthThrottle: &AuthThrottle{Window: -1}}, "auth_throttle: window must not be negative"},
		{"auth_throttle sub-second max_backoff", Handler{AuthThrottle: &AuthThrottle{MaxBackoff: caddy.Duration(time.Millisecond)}}, "max_backoff 1ms: use at least 1s"},
		{"auth_throttle negative max_entries", Handler{AuthThrottle: &AuthThrottle{MaxEntries: -1}}, "max_entries must not be negative"},
		{"memcached without servers", Handler{Memcached: &Memcached{}}, "at least one server"},
		{"memcached bad address", Handler{Memcached: &Memcached{Servers: []string{"localhost"}}}, `server "localhost": want host:port`},
		{"memcached negative ttl", Handler{Memcached: &Memcached{Servers: []string{"a:1"}, TTL: -1}}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.Validate()
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

// TestReplacePlaceholders: secrets come from the environment or files at
// provision time, and unknown placeholders (part of a password?) stay.
func TestReplacePlaceholders(t *testing.T) {
	t.Setenv("CAD_TEST_DSN", "u:p@tcp(db:3306)/s")
	t.Setenv("CAD_TEST_HOST", "sync.example.org")
	h := Handler{
		Database:     &Database{Driver: "mysql", DSN: "{env.CAD_TEST_DSN}"},
		Memcached:    &Memcached{Servers: []string{"{env.CAD_TEST_HOST}:11211"}},
		PublicURL:    "https://{env.CAD_TEST_HOST}/",
		SharedSecret: "a{weird}secret",
		Captcha:      &Captcha{PublicKey: "{env.CAD_TEST_HOST}", PrivateKey: "{env.CAD_TEST_UNSET}"},
	}
	h.replacePlaceholders(caddy.NewReplacer())
	for _, c := range []struct{ name, got, want string }{
		{"dsn", h.Database.DSN, "u:p@tcp(db:3306)/s"},
		{"memcached", h.Memcached.Servers[0], "sync.example.org:11211"},
		{"public_url", h.PublicURL, "https://sync.example.org/"},
		{"shared_secret", h.SharedSecret, "a{weird}secret"},
		{"captcha public", h.Captcha.PublicKey, "sync.example.org"},
		{"captcha private (unset env)", h.Captcha.PrivateKey, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}

	// An unset DSN variable is reported as such, not as a driver error.
	h = Handler{Database: &Database{Driver: "mysql", DSN: "{env.CAD_TEST_UNSET}"}}
	h.replacePlaceholders(caddy.NewReplacer())
	if err := h.Validate(); err == nil || !strings.Contains(err.Error(), "is the environment variable set?") {
		t.Errorf("Validate with an unset DSN variable: %v", err)
	}
}

// TestValidateLegacyNodeWithoutUpstreams: a JSON legacy node whose
// reverse_proxy names no upstream is refused, as in the Caddyfile.
func TestValidateLegacyNodeWithoutUpstreams(t *testing.T) {
	for _, tc := range []struct{ node, wantErr string }{
		{`{"handler":"reverse_proxy"}`, `legacy node "a": reverse_proxy needs at least one upstream`},
		{`{"handler":"reverse_proxy","upstreams":[]}`, `legacy node "a": reverse_proxy needs at least one upstream`},
		{`{"handler":"reverse_proxy","upstreams":[{"dial":"127.0.0.1:8080"}]}`, ""},
		{`{"handler":"reverse_proxy","dynamic_upstreams":{"source":"srv","name":"x"}}`, ""},
	} {
		h := Handler{Legacy: &shim.Legacy{NodesRaw: map[string]json.RawMessage{"a": json.RawMessage(tc.node)}}}
		err := h.Validate()
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error: %v", tc.node, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.node, err, tc.wantErr)
		}
	}
}
