package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/memcache"
)

// nativeStack serves the users of one native database (the handler's own
// or a shard's): the pooled store behind its db_timeout deadline, its
// memcached layer, an authenticator with its credential cache, the
// protocol handler and the background purger. Every shard gets its own,
// so that a shard that is down or frozen only costs its own users.
type nativeStack struct {
	// shard is the name route rows use ("" for the handler's own
	// database).
	shard      string
	db         Database
	poolKey    string // set while the stack holds a pooled store
	pooled     *pooledStore
	store      syncstore.Store // pooled behind the memcached layer, if any
	closeCache func() error    // nil or stops the memcached layer
	auth       *syncstore.Authenticator
	api        *httpapi.Handler
	purge      *purger // nil when purging is off
	logger     *zap.Logger
}

// label is the shard's name as operators see it.
func (s *nativeStack) label() string { return syncstore.ShardLabel(s.shard) }

// openStack builds the stack of one database. On error, what it acquired
// is released again.
func (h *Handler) openStack(ctx caddy.Context, shard string, db Database) (st *nativeStack, err error) {
	st = &nativeStack{shard: shard, db: db, logger: h.logger}
	if shard != "" {
		st.logger = h.logger.With(zap.String("shard", shard))
	}
	defer func() {
		if err != nil {
			st.close()
			st = nil
		}
	}()
	pooled, key, reused, err := acquireStore(ctx, db)
	if err != nil {
		if shard != "" {
			return st, &storeOpenError{fmt.Errorf("shard %s: %w", shard, err)}
		}
		return st, err
	}
	st.poolKey, st.pooled = key, pooled
	st.logger.Info("database ready", append(db.zapFields(), zap.Bool("reused", reused))...)

	// With shards, every stack's memcached counters carry its shard, so
	// that they do not collide and an operator sees each shard's hits.
	var reg prometheus.Registerer = ctx.GetMetricsRegistry()
	if len(h.Shards) > 0 {
		reg = prometheus.WrapRegistererWith(prometheus.Labels{"shard": st.label()}, reg)
	}
	store, closeCache, err := h.Memcached.forShard(shard).wrap(pooled.Store, reg, st.logger)
	st.closeCache = closeCache
	if err != nil {
		return st, err
	}
	st.store = store

	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{
		BcryptCost: h.BcryptCost,
		CacheTTL:   time.Duration(h.AuthCacheTTL),
		CacheSize:  h.AuthCacheSize,
		Logger:     st.logger,
	})
	if err != nil {
		return st, fmt.Errorf("setting up authentication: %w", err)
	}
	st.auth = auth

	api, err := httpapi.New(httpapi.Config{
		Store:               store,
		Auth:                auth,
		Logger:              st.logger,
		PublicURL:           h.PublicURL,
		Registration:        httpapi.RegistrationMode(h.registration()),
		Allowlist:           h.Allowlist,
		AllowPlainUsernames: h.AllowPlainUsernames,
		Captcha:             h.Captcha.httpapi(),
		SharedSecret:        h.SharedSecret,
		QuotaBytes:          h.quotaBytes(),
		MaxPostRecords:      h.MaxPostRecords,
		MaxPostBytes:        h.MaxPostBytes,
		MaxPayloadBytes:     h.MaxPayloadBytes,
		MaxRequestBytes:     h.MaxRequestBytes,
		BodyBudgetBytes:     h.BodyBudgetBytes,
		BodyWait:            time.Duration(h.BodyWait),
		RetryAfter:          time.Duration(h.RetryAfter),
		AuthThrottle:        h.AuthThrottle.httpapi(),
		ClientAddr:          clientIP,
	})
	if err != nil {
		return st, fmt.Errorf("setting up the sync protocol handler: %w", err)
	}
	st.api = api

	if every := h.purgeInterval(); every > 0 {
		st.purge = startPurger(store, every, st.logger)
	}
	return st, nil
}

// close stops the purger, drops remembered passwords and releases the
// pooled store; the last holder closes it.
func (s *nativeStack) close() error {
	if s.purge != nil {
		s.purge.stop()
		s.purge = nil
	}
	if s.auth != nil {
		s.auth.Close() // drop remembered passwords with the config
		s.auth = nil
	}
	var errs []error
	if s.closeCache != nil {
		// Delivers pending invalidations; the pooled store stays open.
		if err := s.closeCache(); err != nil {
			s.logger.Error("closing the memcached layer", zap.Error(err))
		}
		s.closeCache = nil
	}
	if s.poolKey != "" {
		key := s.poolKey
		s.poolKey = ""
		closed, err := releaseStore(key)
		if closed {
			s.logger.Info("database closed", s.db.zapFields()...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("closing the database of shard %s: %w", s.label(), err))
		}
	}
	return errors.Join(errs...)
}

// forShard is the memcached configuration of a shard's cache: the same
// servers, with the shard's name after the prefix ("<prefix><shard>:"),
// so that user ids of different databases never share a key. The
// handler's own database keeps the prefix as it is, so that its cache
// stays valid when shards are added. nil stays nil (no memcached).
func (m *Memcached) forShard(shard string) *Memcached {
	if m == nil || shard == "" {
		return m
	}
	c := *m
	prefix := c.Prefix
	if prefix == "" {
		prefix = memcache.DefaultPrefix
	}
	c.Prefix = prefix + shard + ":"
	return &c
}
