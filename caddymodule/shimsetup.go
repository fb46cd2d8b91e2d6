package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
)

// provisionShim builds the migration shim in front of the native handler.
// pooled is the database as opened (it holds the route table, its cache
// and the configured nodes); store is what the native handler uses.
func (h *Handler) provisionShim(ctx caddy.Context, pooled *pooledStore, store syncstore.Store) error {
	if pooled.routes == nil {
		return fmt.Errorf("legacy: the %s database has no route table", h.database().driver())
	}
	s, err := shim.New(ctx, h.Legacy, shim.Config{
		Native:  h.api,
		Routes:  pooled.routes,
		Users:   store,
		Metrics: h.metrics.shim,
		Logger:  h.logger,
	})
	if err != nil {
		return err
	}
	h.shim = s
	return nil
}
