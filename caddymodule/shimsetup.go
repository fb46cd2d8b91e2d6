package caddymodule

import (
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// provisionShim loads the legacy nodes and builds the dispatcher in front
// of the native handler. pooled is the database as opened (it holds the
// route table and its cache); store is what the native handler uses.
func (h *Handler) provisionShim(ctx caddy.Context, pooled *pooledStore, store syncstore.Store) error {
	l := h.Legacy
	if pooled.routes == nil {
		return fmt.Errorf("legacy: the %s database has no route table", h.database().driver())
	}
	nodes, err := l.loadNodes(ctx)
	if err != nil {
		return err
	}
	home := l.newUsers()
	if home == NewUsersNative {
		home = ""
	}
	h.shim = &shim{
		native:              h.api,
		nodes:               nodes,
		hostNode:            l.hostNode(),
		defaultState:        l.defaultState(),
		home:                home,
		routes:              pooled.routes,
		table:               pooled.routes.table,
		users:               store,
		ttl:                 l.routeCacheTTL(),
		retryAfter:          l.retryAfter(),
		migratingRetryAfter: l.migratingRetryAfter(),
		logger:              h.logger.Named("shim"),
		metrics:             h.metrics,
		clock:               time.Now,
	}
	h.shim.countLookups()
	h.releaseNodes = pooled.nodes.add(l.nodeNames())
	h.stats = startRouteStats(pooled.routes.table, h.metrics.routeUsers, l.statsInterval(), h.logger)
	h.logger.Info("migration shim ready",
		zap.Strings("nodes", l.nodeNames()),
		zap.String("host_node", l.hostNode()),
		zap.String("default_state", string(l.defaultState())),
		zap.String("new_users", l.newUsers()),
		zap.Duration("route_cache_ttl", l.routeCacheTTL()),
		zap.Duration("migrating_retry_after", l.migratingRetryAfter()),
		zap.Duration("timeout", l.timeout()))
	return nil
}
