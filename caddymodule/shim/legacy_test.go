package shim

import (
	"encoding/json"
	"testing"
	"time"
)

func TestLegacyDefaults(t *testing.T) {
	l := &Legacy{NodesRaw: map[string]json.RawMessage{"only": json.RawMessage(`{"handler":"reverse_proxy","upstreams":[{"dial":"10.0.0.1:80"}]}`)}}
	if l.hostNode() != "only" || l.defaultState() != "legacy" || l.newUsers() != NewUsersNative {
		t.Errorf("host node %q, default state %q, new users %q", l.hostNode(), l.defaultState(), l.newUsers())
	}
	// The cache TTL bounds stale reads after a flip (README: 5s); a
	// client that met an outage 503 backs off for longer than that. (The
	// migrating 503 is never served from the cache: TestShimRereadsMigrating.)
	if l.routeCacheTTL() >= l.retryAfter() {
		t.Errorf("route cache TTL %v is not below retry_after %v", l.routeCacheTTL(), l.retryAfter())
	}
	if l.routeCacheTTL() != 5*time.Second || l.timeout() != DefaultLegacyTimeout || l.retryAfter() != DefaultLegacyRetryAfter {
		t.Errorf("ttl %v, timeout %v, retry after %v", l.routeCacheTTL(), l.timeout(), l.retryAfter())
	}
	// Users being migrated are away for about a second, not for an
	// outage: their back-off is seconds.
	if l.migratingRetryAfter() != DefaultMigratingRetryAfter || l.migratingRetryAfter() > 5*time.Second {
		t.Errorf("migrating retry after %v", l.migratingRetryAfter())
	}
}

func TestDefaultProxyTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"no transport", `{"handler":"reverse_proxy","upstreams":[{"dial":"a:80"}]}`,
			`{"handler":"reverse_proxy","transport":{"dial_timeout":3000000000,"protocol":"http","response_header_timeout":3000000000,"write_timeout":3000000000},"upstreams":[{"dial":"a:80"}]}`},
		{"operator's values kept", `{"handler":"reverse_proxy","transport":{"protocol":"http","dial_timeout":1000000000,"read_buffer_size":4096},"upstreams":[{"dial":"a:80"}]}`,
			`{"handler":"reverse_proxy","transport":{"dial_timeout":1000000000,"protocol":"http","read_buffer_size":4096,"response_header_timeout":3000000000,"write_timeout":3000000000},"upstreams":[{"dial":"a:80"}]}`},
		{"string durations kept", `{"handler":"reverse_proxy","transport":{"protocol":"http","dial_timeout":"1s","response_header_timeout":"20s","write_timeout":"5s"}}`,
			`{"handler":"reverse_proxy","transport":{"dial_timeout":"1s","protocol":"http","response_header_timeout":"20s","write_timeout":"5s"}}`},
		{"fastcgi untouched", `{"handler":"reverse_proxy","transport":{"protocol":"fastcgi","root":"/srv"}}`,
			`{"handler":"reverse_proxy","transport":{"protocol":"fastcgi","root":"/srv"}}`},
		{"other handler untouched", `{"handler":"static_response","status_code":503}`, `{"handler":"static_response","status_code":503}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := defaultProxyTimeouts(json.RawMessage(tc.in), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
