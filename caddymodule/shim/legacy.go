package shim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/syncserver/syncserver/syncstore"
)

// Defaults of the legacy block.
const (
	// DefaultRouteCacheTTL bounds how long reads may follow a route that
	// changed on another instance. Writes never use the cache, so the
	// migrate tool does not wait for it (its --drain is about writes in
	// flight); stale reads around a flip find the same data on both sides.
	DefaultRouteCacheTTL = 5 * time.Second
	// DefaultLegacyTimeout bounds connecting to a legacy node and waiting
	// for its answer's headers. Legacy requests take well under a second;
	// a node that needs longer is treated as down.
	DefaultLegacyTimeout = 10 * time.Second
	// DefaultLegacyRetryAfter is the back-off sent while a user's node is
	// unreachable.
	DefaultLegacyRetryAfter = 5 * time.Minute
	// DefaultMigratingRetryAfter is the back-off sent while a user is
	// being migrated: a migration keeps a user away for about a second
	// (longer for large accounts), so a client coming back after this
	// finds the user on the new backend.
	DefaultMigratingRetryAfter = 2 * time.Second
	// DefaultRouteStatsInterval is how often the users-per-state gauge is
	// refreshed from the route table.
	DefaultRouteStatsInterval = time.Minute
)

// NewUsersNative is the new_users value that creates accounts in the
// native store, and its default.
const NewUsersNative = "native"

// DefaultRouteState is the default of default_state: users without a
// route row stay on their legacy node.
const DefaultRouteState = syncstore.RouteLegacy

// maxNodeName is the width of the route table's node column.
const maxNodeName = 64

// Legacy puts the handler in front of legacy PHP Sync servers (FSyncMS,
// Mozilla's PHP server) during a migration. Each user's requests go where
// the route table says: to the native store, to the user's legacy node
// through Caddy's reverse proxy, or, while the migrate tool moves the
// user, nowhere (503 with Retry-After). node/weave is always answered
// here, so clients keep talking to this server whatever their state.
type Legacy struct {
	// NodesRaw are the legacy nodes by name, each an HTTP handler,
	// normally reverse_proxy to the node's PHP servers: load balancing,
	// health checks, retries and transport are configured there. Route
	// rows name these nodes; names are at most 64 bytes.
	NodesRaw map[string]json.RawMessage `json:"nodes,omitempty" caddy:"namespace=http.handlers inline_key=handler"`

	// DefaultState is where users without a route row are served:
	// "legacy" (default: on host_node) or "native".
	DefaultState string `json:"default_state,omitempty"`

	// NewUsers is where accounts registered through this server are
	// created: "native" (default) or the name of a node; a route row is
	// written for them. A name taken on a legacy node (or natively, with
	// default_state native) is never created anew elsewhere.
	NewUsers string `json:"new_users,omitempty"`

	// HostNode is the node of users whose row names no node, and of
	// rowless users when default_state is legacy. Give each node's site
	// block (one per node hostname) its own host_node. Required with
	// several nodes.
	HostNode string `json:"host_node,omitempty"`

	// RouteCacheTTL is how long a route row is remembered for reads (GET,
	// HEAD). A route change reaches every instance's reads within this
	// bound (at once on the instance whose admin API made it); requests
	// that can write always read the table, so they follow a change at
	// once everywhere. Default 5s; 0 reads the table on every request.
	RouteCacheTTL *caddy.Duration `json:"route_cache_ttl,omitempty"`

	// Timeout bounds how long a legacy node may take to accept the
	// connection and to send its answer's headers; after it the user gets
	// 503 with Retry-After. It sets reverse_proxy's dial_timeout,
	// response_header_timeout and write_timeout (a node that stops
	// reading an upload) when they are not configured there. It also
	// bounds a pause within the answer's body: after it the client's
	// transfer is cut (docs/legacy.md §6). Default 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`

	// RetryAfter is sent in Retry-After and X-Weave-Backoff to users
	// whose node is unreachable. Default 5m.
	RetryAfter caddy.Duration `json:"retry_after,omitempty"`

	// MigratingRetryAfter is sent in Retry-After and X-Weave-Backoff to
	// users being migrated. Size it to the window the migrate tool
	// reports: a client that comes back after it should find the user
	// moved. Whole seconds, at least 1s. Default 2s.
	MigratingRetryAfter caddy.Duration `json:"migrating_retry_after,omitempty"`

	// StatsInterval is how often the syncserver_route_users gauge is
	// refreshed from the route table. Default 1m.
	StatsInterval caddy.Duration `json:"stats_interval,omitempty"`

	// names are the node names; kept because loading the nodes clears
	// NodesRaw and Caddy validates again after provisioning.
	names []string
}

func (l *Legacy) defaultState() syncstore.RouteState {
	if l.DefaultState == "" {
		return DefaultRouteState
	}
	return syncstore.RouteState(l.DefaultState)
}

func (l *Legacy) newUsers() string {
	if l.NewUsers == "" {
		return NewUsersNative
	}
	return l.NewUsers
}

// hostNode is the default node: host_node, or the only node.
func (l *Legacy) hostNode() string {
	if names := l.NodeNames(); l.HostNode == "" && len(names) == 1 {
		return names[0]
	}
	return l.HostNode
}

func (l *Legacy) routeCacheTTL() time.Duration {
	if l.RouteCacheTTL == nil {
		return DefaultRouteCacheTTL
	}
	return time.Duration(*l.RouteCacheTTL)
}

func (l *Legacy) timeout() time.Duration {
	if l.Timeout == 0 {
		return DefaultLegacyTimeout
	}
	return time.Duration(l.Timeout)
}

func (l *Legacy) retryAfter() time.Duration {
	if l.RetryAfter == 0 {
		return DefaultLegacyRetryAfter
	}
	return time.Duration(l.RetryAfter)
}

func (l *Legacy) migratingRetryAfter() time.Duration {
	if l.MigratingRetryAfter == 0 {
		return DefaultMigratingRetryAfter
	}
	return time.Duration(l.MigratingRetryAfter)
}

func (l *Legacy) statsInterval() time.Duration {
	if l.StatsInterval == 0 {
		return DefaultRouteStatsInterval
	}
	return time.Duration(l.StatsInterval)
}

// NodeNames lists the configured nodes in name order.
func (l *Legacy) NodeNames() []string {
	if l.names == nil {
		names := make([]string, 0, len(l.NodesRaw))
		for n := range l.NodesRaw {
			names = append(names, n)
		}
		sort.Strings(names)
		return names
	}
	return l.names
}

func (l *Legacy) hasNode(name string) bool {
	return slices.Contains(l.NodeNames(), name)
}

// Validate reports mistakes with the field's JSON name. It runs before
// the nodes are loaded.
func (l *Legacy) Validate() error {
	if len(l.NodeNames()) == 0 {
		return fmt.Errorf("legacy: at least one node is required")
	}
	for _, name := range l.NodeNames() {
		if name == "" || len(name) > maxNodeName {
			return fmt.Errorf("legacy: node name %q: must be 1 to %d bytes", name, maxNodeName)
		}
		if name == NewUsersNative {
			return fmt.Errorf("legacy: a node cannot be named %q (new_users uses that word for the native store)", name)
		}
		// A reverse_proxy without upstreams loads, then fails every
		// request of the node's users.
		var rp struct {
			Handler          string            `json:"handler"`
			Upstreams        []json.RawMessage `json:"upstreams"`
			DynamicUpstreams json.RawMessage   `json:"dynamic_upstreams"`
		}
		if json.Unmarshal(l.NodesRaw[name], &rp) == nil && rp.Handler == "reverse_proxy" &&
			len(rp.Upstreams) == 0 && len(rp.DynamicUpstreams) == 0 {
			return fmt.Errorf("legacy node %q: reverse_proxy needs at least one upstream (the legacy server's address, e.g. {\"dial\": \"127.0.0.1:8080\"})", name)
		}
	}
	switch l.defaultState() {
	case syncstore.RouteLegacy, syncstore.RouteNative:
	default:
		return fmt.Errorf("legacy: default_state %q: must be %q or %q", l.DefaultState, syncstore.RouteLegacy, syncstore.RouteNative)
	}
	if nu := l.newUsers(); nu != NewUsersNative {
		if !l.hasNode(nu) {
			return fmt.Errorf("legacy: new_users %q: must be %q or a configured node (%v)", nu, NewUsersNative, l.NodeNames())
		}
	}
	if l.HostNode != "" {
		if !l.hasNode(l.HostNode) {
			return fmt.Errorf("legacy: host_node %q is not a configured node (%v)", l.HostNode, l.NodeNames())
		}
	}
	if l.hostNode() == "" {
		return fmt.Errorf("legacy: with several nodes (%v), host_node must say which one serves users whose route names no node", l.NodeNames())
	}
	for _, d := range []struct {
		name string
		v    caddy.Duration
	}{{"timeout", l.Timeout}, {"retry_after", l.RetryAfter}, {"migrating_retry_after", l.MigratingRetryAfter}, {"stats_interval", l.StatsInterval}} {
		if d.v < 0 {
			return fmt.Errorf("legacy: %s must not be negative", d.name)
		}
	}
	if l.RouteCacheTTL != nil && *l.RouteCacheTTL < 0 {
		return fmt.Errorf("legacy: route_cache_ttl must not be negative")
	}
	for _, d := range []struct {
		name string
		v    caddy.Duration
	}{{"retry_after", l.RetryAfter}, {"migrating_retry_after", l.MigratingRetryAfter}} {
		if d.v != 0 && time.Duration(d.v) < time.Second {
			return fmt.Errorf("legacy: %s %s: clients count it in whole seconds, use at least 1s", d.name, time.Duration(d.v))
		}
	}
	return nil
}

// loadNodes provisions the node handlers. reverse_proxy nodes get the
// legacy timeout as their dial and response header timeouts unless their
// transport sets them, so that a dead or hung node costs its users a
// bounded wait and never a hang.
func (l *Legacy) loadNodes(ctx caddy.Context) (map[string]caddyhttp.MiddlewareHandler, error) {
	l.names = l.NodeNames()
	for name, raw := range l.NodesRaw {
		withTimeouts, err := defaultProxyTimeouts(raw, l.timeout())
		if err != nil {
			return nil, fmt.Errorf("legacy node %q: %w", name, err)
		}
		l.NodesRaw[name] = withTimeouts
	}
	mods, err := ctx.LoadModule(l, "NodesRaw")
	if err != nil {
		return nil, fmt.Errorf("loading legacy nodes: %w", err)
	}
	nodes := make(map[string]caddyhttp.MiddlewareHandler)
	for name, m := range mods.(map[string]any) {
		h, ok := m.(caddyhttp.MiddlewareHandler)
		if !ok {
			return nil, fmt.Errorf("legacy node %q: %T is not an HTTP handler", name, m)
		}
		nodes[name] = h
	}
	return nodes, nil
}

// defaultProxyTimeouts fills in the http transport's dial_timeout,
// response_header_timeout and write_timeout of a reverse_proxy handler's
// JSON when the operator left them out. Other handlers are returned unchanged.
func defaultProxyTimeouts(raw json.RawMessage, timeout time.Duration) (json.RawMessage, error) {
	var cfg map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // durations in nanoseconds must survive the round trip
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("decoding handler: %w", err)
	}
	if cfg["handler"] != "reverse_proxy" {
		return raw, nil
	}
	transport, _ := cfg["transport"].(map[string]any)
	if transport == nil {
		transport = map[string]any{"protocol": "http"}
	}
	if transport["protocol"] != "http" {
		return raw, nil
	}
	// write_timeout bounds each write of the request to the node: the
	// answer-header timeout only starts once the whole request is sent,
	// so a node that stopped reading would otherwise hold an upload
	// larger than the connection's buffers for ever.
	for _, key := range []string{"dial_timeout", "response_header_timeout", "write_timeout"} {
		if _, set := transport[key]; !set {
			transport[key] = int64(timeout)
		}
	}
	cfg["transport"] = transport
	out, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encoding handler: %w", err)
	}
	return out, nil
}
