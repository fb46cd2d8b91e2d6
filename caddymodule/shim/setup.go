package shim

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

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
	Users   Accounts
	Metrics *Metrics
	Logger  *zap.Logger
}

// New loads the legacy nodes and builds the dispatcher in front of the
// native handler. Stop releases what it started.
func New(ctx caddy.Context, l *Legacy, c Config) (*Shim, error) {
	nodes, err := l.loadNodes(ctx)
	if err != nil {
		return nil, err
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
		retryAfter:          l.retryAfter(),
		migratingRetryAfter: l.migratingRetryAfter(),
		logger:              c.Logger.Named("shim"),
		metrics:             c.Metrics,
		clock:               time.Now,
	}
	s.countLookups()
	s.releaseNodes = c.Routes.nodes.add(l.NodeNames())
	s.stats = startRouteStats(c.Routes.table, c.Metrics.routeUsers, l.statsInterval(), c.Logger)
	c.Logger.Info("migration shim ready",
		zap.Strings("nodes", l.NodeNames()),
		zap.String("host_node", l.hostNode()),
		zap.String("default_state", string(l.defaultState())),
		zap.String("new_users", l.newUsers()),
		zap.Duration("route_cache_ttl", l.routeCacheTTL()),
		zap.Duration("migrating_retry_after", l.migratingRetryAfter()),
		zap.Duration("timeout", l.timeout()))
	return s, nil
}

// Stop stops the users-per-state gauge's refreshes and forgets this
// shim's nodes.
func (s *Shim) Stop() {
	s.stats.stop()
	s.releaseNodes()
}
