package caddymodule

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// TestClientIPFollowsCaddy: the throttle counts the address Caddy
// resolved (the client a trusted proxy reported), not the proxy's.
func TestClientIPFollowsCaddy(t *testing.T) {
	r := httptest.NewRequest("GET", "/1.1/alice/info/collections", nil)
	r.RemoteAddr = "10.0.0.1:5000"
	if got := clientIP(r); got != "10.0.0.1:5000" {
		t.Errorf("without Caddy's vars: %q, want the peer address", got)
	}
	vars := map[string]any{caddyhttp.ClientIPVarKey: "203.0.113.9"}
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
	if got := clientIP(r); got != "203.0.113.9" {
		t.Errorf("with client_ip set: %q, want 203.0.113.9", got)
	}
}
