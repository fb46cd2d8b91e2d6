package shim

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// Config is what a shim is built from besides its legacy block.
type Config struct {
	// Native is the protocol handler of the native store; it answers
	// native users and gives the shim's own answers.
	Native *httpapi.Handler
	// Routes is the routing state of the database Native uses.
	Routes *Routes
	// Users is the store Native uses.
	Users Accounts
	// Shards are the native shards besides Native's database; route rows
	// name them. New native users are spread over the open ones.
	Shards  []Shard
	Metrics *Metrics
	Logger  *zap.Logger
}

// New loads the legacy nodes and builds the dispatcher in front of the
// native handlers. l is nil on a site with native shards and no legacy
// server: every user is native, rowless ones on the directory database,
// and the legacy block's defaults apply to the route cache. Stop releases
// what it started.
func New(ctx caddy.Context, l *Legacy, c Config) (*Shim, error) {
	if l == nil {
		l = &Legacy{DefaultState: string(syncstore.RouteNative)}
	}
	nodes := map[string]caddyhttp.MiddlewareHandler{}
	if len(l.NodesRaw) > 0 {
		var err error
		if nodes, err = l.loadNodes(ctx); err != nil {
			return nil, err
		}
	}
	home := l.newUsers()
	if home == NewUsersNative {
		home = ""
	}
	s := &Shim{
		native:              c.Native,
		nodes:               nodes,
		hostNode:            l.hostNode(),
		defaultState:        l.defaultState(),
		home:                home,
		routes:              c.Routes.cache,
		table:               c.Routes.table,
		users:               c.Users,
		ttl:                 l.routeCacheTTL(),
		timeout:             l.timeout(),
		retryAfter:          l.retryAfter(),
		migratingRetryAfter: l.migratingRetryAfter(),
		logger:              c.Logger.Named("shim"),
		metrics:             c.Metrics,
		clock:               time.Now,
	}
	s.setShards(c)
	s.countLookups()
	s.releaseNodes = c.Routes.nodes.add(l.NodeNames())
	s.releaseShards = c.Routes.shards.add(s.backends)
	s.stats = startRouteStats(c.Routes.table, c.Metrics.routeUsers, l.statsInterval(), c.Logger)
	c.Logger.Info("migration shim ready",
		zap.Strings("nodes", l.NodeNames()),
		zap.String("host_node", l.hostNode()),
		zap.String("default_state", string(l.defaultState())),
		zap.String("new_users", l.newUsers()),
		zap.Duration("route_cache_ttl", l.routeCacheTTL()),
		zap.Duration("migrating_retry_after", l.migratingRetryAfter()),
		zap.Duration("timeout", l.timeout()),
		zap.Any("shards", s.weights))
	return s, nil
}

// Stop stops the users-per-state gauge's refreshes and forgets this
// shim's nodes.
func (s *Shim) Stop() {
	s.stats.stop()
	s.releaseNodes()
	s.releaseShards()
}

// setShards sets up the native backends: the directory database's under
// "", each shard's under its name.
func (s *Shim) setShards(c Config) {
	own := newBackend("", c.Native, c.Users)
	s.backends = map[string]*backend{"": own}
	if len(c.Shards) == 0 {
		return
	}
	own.label = syncstore.DefaultShard
	s.weights = make([]syncstore.ShardWeight, 0, len(c.Shards))
	for _, sh := range c.Shards {
		s.backends[sh.Name] = newBackend(sh.Name, sh.Native, sh.Users)
		s.weights = append(s.weights, syncstore.ShardWeight{Name: sh.Name, Weight: sh.Weight})
	}
}
