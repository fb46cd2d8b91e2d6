package caddymodule

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/memcache"
)

// Memcached configures the memcached cache in front of the database.
type Memcached struct {
	// Servers are memcached addresses (host:port, or the path of a Unix
	// socket); keys are spread over them. Required.
	Servers []string `json:"servers,omitempty"`

	// Prefix starts every key, so several installations can share one
	// memcached. Default "syncserver:".
	Prefix string `json:"prefix,omitempty"`

	// TTL bounds how long a cached answer may be served if an
	// invalidation is lost. Default 5m.
	TTL caddy.Duration `json:"ttl,omitempty"`

	// Timeout bounds each memcached call; a slow or dead memcached makes
	// requests fall through to the database after this long. Default
	// 100ms.
	Timeout caddy.Duration `json:"timeout,omitempty"`
}

func (m *Memcached) validate() error {
	if m == nil {
		return nil
	}
	if len(m.Servers) == 0 {
		return fmt.Errorf("memcached: at least one server address is required")
	}
	for _, s := range m.Servers {
		if strings.HasPrefix(s, "/") {
			continue // Unix socket
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			return fmt.Errorf("memcached: server %q: want host:port: %w", s, err)
		}
	}
	if m.TTL < 0 || m.Timeout < 0 {
		return fmt.Errorf("memcached: ttl and timeout must not be negative")
	}
	if m.TTL != 0 && time.Duration(m.TTL) < time.Second {
		return fmt.Errorf("memcached: ttl %s: memcached counts whole seconds, use at least 1s", time.Duration(m.TTL))
	}
	if strings.ContainsFunc(m.Prefix, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return fmt.Errorf("memcached: prefix %q: keys cannot hold spaces, control or non-ASCII characters", m.Prefix)
	}
	return nil
}

// wrap puts the cache in front of store and registers its counters; it
// returns store unchanged when no memcached is configured. The returned
// closer must be called at Cleanup: it stops the cache's background
// invalidation retries but leaves store open, because store belongs to
// the database pool and outlives this handler.
func (m *Memcached) wrap(store syncstore.Store, reg prometheus.Registerer, logger *zap.Logger) (syncstore.Store, func() error, error) {
	if m == nil {
		return store, func() error { return nil }, nil
	}
	cached, err := memcache.New(unclosable{store}, memcache.Config{
		Servers: m.Servers,
		Prefix:  m.Prefix,
		TTL:     time.Duration(m.TTL),
		Timeout: time.Duration(m.Timeout),
	}, logger.Named("memcache"))
	if err != nil {
		return nil, nil, fmt.Errorf("memcached: %w", err)
	}
	// With several cached handlers on one database in one config, only
	// the first one's counters are exported: the series have no label to
	// tell them apart. (Shards label theirs, see nativeStack.)
	if _, err := shim.Register(reg, cached.Collector()); err != nil {
		cached.Close()
		return nil, nil, fmt.Errorf("memcached: %w", err)
	}
	return cached, cached.Close, nil
}

// unclosable shields a pooled store from Close calls by its wrappers.
type unclosable struct {
	syncstore.Store
}

func (unclosable) Close() error { return nil }

// Unwrap lets the purge loop find the database's purge lock underneath.
func (u unclosable) Unwrap() syncstore.Store { return u.Store }
