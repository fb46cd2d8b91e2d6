package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestFleetExampleConfigs adapts the README's "Scaling out" configs
// (docs/deploy/fleet) as `syncserver run --config` would and checks that
// they say what the README says: every instance serves the directory and
// two shards from MySQL with one memcached and the balancer's public_url;
// the balancer proxies to three instances with health checks on the
// database-free heartbeat.
func TestFleetExampleConfigs(t *testing.T) {
	adapt := func(name string) []byte {
		t.Helper()
		input, err := os.ReadFile(filepath.Join("..", "docs", "deploy", "fleet", name))
		if err != nil {
			t.Fatal(err)
		}
		out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(input, map[string]any{"filename": name})
		if err != nil {
			t.Fatalf("adapting %s: %v", name, err)
		}
		for _, w := range warnings {
			t.Errorf("%s: adapt warning: %s", name, w)
		}
		return out
	}

	t.Setenv("SYNC_DIRECTORY_DSN", "sync:pw@tcp(db0.internal:3306)/sync")
	t.Setenv("SYNC_S1_DSN", "sync:pw@tcp(db1.internal:3306)/sync_s1")
	t.Setenv("SYNC_S2_DSN", "sync:pw@tcp(db2.internal:3306)/sync_s2")
	handlers := findFirefoxSync(t, adapt("instance.Caddyfile"))
	if len(handlers) != 1 {
		t.Fatalf("%d firefox_sync handlers in instance.Caddyfile, want 1", len(handlers))
	}
	h := handlers[0]
	h.replacePlaceholders(caddy.NewReplacer())
	if err := h.Validate(); err != nil {
		t.Fatalf("instance.Caddyfile's handler does not validate: %v", err)
	}
	if h.Database == nil || h.Database.Driver != DriverMySQL || !strings.Contains(h.Database.DSN, "db0.internal") {
		t.Errorf("directory database = %+v, want MySQL on db0", h.Database)
	}
	var names []string
	for _, s := range h.Shards {
		names = append(names, s.Name)
		if s.Database == nil || s.Database.Driver != DriverMySQL {
			t.Errorf("shard %s is not on MySQL: %+v", s.Name, s.Database)
		}
	}
	if strings.Join(names, ",") != "s1,s2" {
		t.Errorf("shards = %v, want s1,s2", names)
	}
	if h.Memcached == nil || len(h.Memcached.Servers) != 1 {
		t.Errorf("memcached = %+v, want one server", h.Memcached)
	}
	if h.PublicURL != "https://sync.example.com/" {
		t.Errorf("public_url = %q, want the balancer's https://sync.example.com/", h.PublicURL)
	}

	var lb struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adapt("balancer.Caddyfile"), &lb); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(lb)
	var proxy struct {
		Handler   string `json:"handler"`
		Upstreams []struct {
			Dial string `json:"dial"`
		} `json:"upstreams"`
		HealthChecks struct {
			Active struct {
				URI string `json:"uri"`
			} `json:"active"`
		} `json:"health_checks"`
	}
	found := false
	for _, srv := range lb.Apps.HTTP.Servers {
		for _, r := range srv.Routes {
			for _, hd := range r.Handle {
				findHandler(t, hd, "reverse_proxy", &proxy, &found)
			}
		}
	}
	if !found {
		t.Fatalf("no reverse_proxy in balancer.Caddyfile's JSON: %s", raw)
	}
	if len(proxy.Upstreams) != 3 {
		t.Errorf("balancer has %d upstreams, want the 3 instances", len(proxy.Upstreams))
	}
	if proxy.HealthChecks.Active.URI != "/__heartbeat__" {
		t.Errorf("balancer health check URI = %q, want /__heartbeat__ (needs no database)", proxy.HealthChecks.Active.URI)
	}
}

// findHandler decodes into out the first handler named name in raw,
// looking inside subroute handlers, which the adapter wraps sites in.
func findHandler(t *testing.T, raw json.RawMessage, name string, out any, found *bool) {
	t.Helper()
	if *found {
		return
	}
	var h struct {
		Handler string `json:"handler"`
		Routes  []struct {
			Handle []json.RawMessage `json:"handle"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.Handler == name {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
		*found = true
		return
	}
	for _, r := range h.Routes {
		for _, sub := range r.Handle {
			findHandler(t, sub, name, out, found)
		}
	}
}
