package local

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"

	"github.com/caddyserver/caddy/v2"
	// The shim runs as Caddy runs it: the HTTP app, the reverse proxy the
	// legacy block loads, and the firefox_sync handler.
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/syncserver/syncserver/bench"
	_ "github.com/syncserver/syncserver/caddymodule"
)

// startShim starts the migration shim as production runs it: Caddy, in
// this process, with the firefox_sync handler on SQLite and a legacy block
// proxying to its own FSyncMS stand-in, default_state legacy, so every
// bench account (none has a route row) is proxied. Only one Caddy config
// runs in a process, hence at most one shim.
func (s *Server) startShim(ctx context.Context, opts Options) error {
	legacyAddr, err := s.startStandIn(ctx, opts)
	if err != nil {
		return err
	}
	dir, err := s.sqliteDir(opts)
	if err != nil {
		return err
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	public := &url.URL{Scheme: "http", Host: addr, Path: "/"}
	cfg, err := shimConfig(addr, public.String(), dir, legacyAddr, opts.BcryptCost)
	if err != nil {
		return err
	}
	if err := caddy.Load(cfg, true); err != nil {
		return fmt.Errorf("starting the shim in Caddy: %w", err)
	}
	// Before the stand-in stops and its database goes: the cleanups run
	// last first.
	s.cleanup = append(s.cleanup, caddy.Stop)
	s.Target = bench.Target{Name: Shim, URL: public, Legacy: true}
	return nil
}

// shimConfig is the Caddy JSON config of the shim: what
//
//	http://<addr> {
//		firefox_sync {
//			database sqlite <dir>
//			public_url <public>
//			registration open
//			quota off
//			purge_interval off
//			bcrypt_cost <cost>
//			legacy {
//				node legacy {
//					reverse_proxy <legacyAddr>
//				}
//				default_state legacy
//			}
//		}
//	}
//
// adapts to, without the admin endpoint (other Caddy instances on the
// machine own localhost:2019) and without saving the config.
func shimConfig(addr, public, dir, legacyAddr string, bcryptCost int) ([]byte, error) {
	handler := map[string]any{
		"handler":        "firefox_sync",
		"database":       map[string]any{"driver": "sqlite", "dir": dir},
		"public_url":     public,
		"registration":   "open",
		"quota_bytes":    0,
		"purge_interval": 0,
		"legacy": map[string]any{
			"default_state": "legacy",
			"nodes": map[string]any{
				"legacy": map[string]any{
					"handler":   "reverse_proxy",
					"upstreams": []any{map[string]any{"dial": legacyAddr}},
				},
			},
		},
	}
	if bcryptCost > 0 {
		handler["bcrypt_cost"] = bcryptCost
	}
	cfg := map[string]any{
		"admin": map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"apps": map[string]any{
			"http": map[string]any{
				// Caddy's default waits for idle keep-alive connections
				// forever when the shim stops.
				"grace_period": "5s",
				"servers": map[string]any{
					"bench_shim": map[string]any{
						"listen":          []string{addr},
						"automatic_https": map[string]any{"disable": true},
						"routes":          []any{map[string]any{"handle": []any{handler}}},
					},
				},
			},
		},
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the shim's Caddy config: %w", err)
	}
	return out, nil
}

// freeLoopbackAddr finds a free loopback port for a listener that Caddy
// opens itself (its config cannot hand back the port of ":0").
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return "", err
	}
	return addr, nil
}
