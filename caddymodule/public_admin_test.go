package caddymodule

import (
	"fmt"
	"strings"
	"testing"
)

// TestAdminPathsNotOnPublicSite: Caddy's admin API (config changes, stop)
// and our route table live on the admin endpoint only. Sent to the public
// site, even with valid Sync credentials, these requests reach the Sync
// handler, which knows no such path: 404, and the running config stays as
// it was. TestShimAdminAPI covers the route table behind a legacy block.
func TestAdminPathsNotOnPublicSite(t *testing.T) {
	dir := t.TempDir()
	unloadAtEnd(t)
	initServer(t, siteCaddyfile("database sqlite "+dir))
	const email = "admin-probe@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)

	status, before := adminRequest(t, "GET", "/config/", "")
	if status != 200 || !strings.Contains(before, "firefox_sync") {
		t.Fatalf("admin GET /config/: %d %q", status, before)
	}
	// What an attacker would send to replace the config, open a proxy or
	// stop the server.
	evil := fmt.Sprintf(`{"apps":{"http":{"servers":{"x":{"listen":[":%d"]}}}}}`, httpPort)
	probes := []struct{ method, path, body string }{
		{"GET", "/config/", ""},
		{"POST", "/load", evil},
		{"POST", "/config/", evil},
		{"PUT", "/config/apps/http/servers/x", `{"listen":[":1"]}`},
		{"PATCH", "/config/apps/http", `{}`},
		{"DELETE", "/config/", ""},
		{"POST", "/stop", ""},
		{"GET", "/id/x", ""},
		{"GET", "/reverse_proxy/upstreams", ""},
		{"GET", "/pki/ca/local", ""},
		{"GET", "/debug/pprof/goroutine?debug=1", ""},
		{"GET", "/metrics", ""},
		{"GET", "/firefox-sync/routes/", ""},
		{"GET", "/firefox-sync/routes/" + c.user, ""},
		{"PUT", "/firefox-sync/routes/" + c.user, `{"state":"legacy","force":true}`},
	}
	for _, p := range probes {
		for _, auth := range []bool{false, true} {
			r := c.do(p.method, p.path, p.body, auth)
			if r.status != 404 {
				t.Errorf("%s %s on the public site (auth %v): %d %q, want 404", p.method, p.path, auth, r.status, r.body)
			}
			for _, leak := range []string{"firefox_sync", "goroutine", "go_goroutines", `"state"`, "BEGIN CERTIFICATE", `"root_common_name"`} {
				if strings.Contains(r.body, leak) {
					t.Errorf("%s %s on the public site answers admin data (%q): %q", p.method, p.path, leak, r.body)
				}
			}
		}
	}

	if status, after := adminRequest(t, "GET", "/config/", ""); status != 200 || after != before {
		t.Errorf("config changed by requests to the public site:\nbefore %s\nafter  %s", before, after)
	}
	c.expect(c.do("GET", "/1.1/"+c.user+"/info/collections", "", true), 200, "{}")
}
