package caddymodule

import (
	"encoding/json"
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/syncserver/syncserver/caddymodule/shim"
)

// parseLegacy reads the legacy block of firefox_sync:
//
//	legacy {
//	    node <name> {
//	        reverse_proxy <upstreams...> {
//	            # anything reverse_proxy accepts: lb_policy, health_uri,
//	            # lb_try_duration, transport http { ... }, header_up, ...
//	        }
//	    }
//	    default_state         legacy|native
//	    new_users             native|<node>
//	    host_node             <node>
//	    route_cache_ttl       <duration>|off
//	    timeout               <duration>
//	    retry_after           <duration>
//	    migrating_retry_after <duration>
//	    stats_interval        <duration>
//	}
//
// The reverse_proxy block is parsed by the reverse proxy itself, so it is
// written exactly as a reverse_proxy directive. helper, when the Caddyfile
// adapter provides one, lets it hold handle_response routes.
func parseLegacy(d *caddyfile.Dispenser, helper *httpcaddyfile.Helper) (*shim.Legacy, error) {
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	l := &shim.Legacy{NodesRaw: map[string]json.RawMessage{}}
	seen := once{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "node" { // nodes are checked by name
			if err := seen.check(d); err != nil {
				return nil, err
			}
		}
		var err error
		switch sub := d.Val(); sub {
		case "node":
			err = parseLegacyNode(d, helper, l)
		case "default_state":
			l.DefaultState, err = oneArg(d)
		case "new_users":
			l.NewUsers, err = oneArg(d)
		case "host_node":
			l.HostNode, err = oneArg(d)
		case "route_cache_ttl":
			var s string
			if s, err = oneArg(d); err == nil {
				var ttl caddy.Duration
				if s != "off" {
					ttl, err = parseDuration(d, "route_cache_ttl", s)
				}
				l.RouteCacheTTL = &ttl
			}
		case "timeout":
			l.Timeout, err = durationArg(d)
		case "retry_after":
			l.RetryAfter, err = durationArg(d)
		case "migrating_retry_after":
			l.MigratingRetryAfter, err = durationArg(d)
		case "stats_interval":
			l.StatsInterval, err = durationArg(d)
		default:
			return nil, d.Errf("unknown legacy subdirective %q", sub)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(l.NodesRaw) == 0 {
		return nil, d.Err("legacy needs at least one node: node <name> { reverse_proxy <upstreams> }")
	}
	return l, nil
}

func parseLegacyNode(d *caddyfile.Dispenser, helper *httpcaddyfile.Helper, l *shim.Legacy) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	name := d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	if _, dup := l.NodesRaw[name]; dup {
		return d.Errf("legacy node %q defined twice", name)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "reverse_proxy" {
			return d.Errf("legacy node %q: unknown subdirective %q (a node holds one reverse_proxy)", name, d.Val())
		}
		if l.NodesRaw[name] != nil {
			return d.Errf("legacy node %q: more than one reverse_proxy", name)
		}
		rp := new(reverseproxy.Handler)
		if err := rp.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
			return err
		}
		if err := finalizeProxy(rp, helper); err != nil {
			return err
		}
		if len(rp.Upstreams) == 0 && rp.DynamicUpstreamsRaw == nil {
			return d.Errf("legacy node %q: reverse_proxy needs at least one upstream (the legacy server's address, e.g. reverse_proxy 127.0.0.1:8080); without one every user of the node would get an error", name)
		}
		var warnings []caddyconfig.Warning
		raw := caddyconfig.JSONModuleObject(rp, "handler", "reverse_proxy", &warnings)
		if len(warnings) > 0 {
			return d.Errf("legacy node %q: encoding reverse_proxy: %s", name, warnings[0].Message)
		}
		l.NodesRaw[name] = raw
	}
	if l.NodesRaw[name] == nil {
		return d.Errf("legacy node %q needs a reverse_proxy to its servers: node %s { reverse_proxy <upstreams> }", name, name)
	}
	return nil
}

// finalizeProxy completes the reverse proxy's parsing. Its handle_response
// blocks are routes, which only the Caddyfile adapter's helper can parse;
// without one (UnmarshalCaddyfile called directly) they are refused.
func finalizeProxy(rp *reverseproxy.Handler, helper *httpcaddyfile.Helper) (err error) {
	if helper != nil {
		return rp.FinalizeUnmarshalCaddyfile(*helper)
	}
	defer func() {
		if recover() != nil {
			err = errors.New("handle_response in a legacy node's reverse_proxy needs the Caddyfile adapter")
		}
	}()
	return rp.FinalizeUnmarshalCaddyfile(httpcaddyfile.Helper{})
}
