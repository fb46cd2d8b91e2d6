package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"

	"github.com/syncserver/syncserver/caddymodule/shim"
)

// provisionShim builds the route dispatch in front of the native
// handlers: the migration shim of a legacy block, and the dispatch of
// native users to their shard. The route table is the handler's own
// database's (stacks[0]), with its shared cache and configured nodes.
// shards are the shards' stacks in config order, nil for one not open
// yet.
func (h *Handler) provisionShim(ctx caddy.Context, shards []*nativeStack) error {
	own := h.stacks[0]
	if own.pooled.routes == nil {
		what := "legacy"
		if h.Legacy == nil {
			what = "shards"
		}
		return fmt.Errorf("%s: the %s database has no route table", what, h.database().driver())
	}
	c := shim.Config{
		Native:  own.api,
		Routes:  own.pooled.routes,
		Users:   own.store,
		Metrics: h.metrics.shim,
		Logger:  h.logger,
	}
	if len(h.Shards) > 0 {
		c.Shards = make([]shim.Shard, 0, len(h.Shards))
		for i, st := range shards {
			sh := shim.Shard{Name: h.Shards[i].Name, Weight: h.Shards[i].weight()}
			if st != nil {
				sh.Native, sh.Users = st.api, st.store
			}
			c.Shards = append(c.Shards, sh)
		}
	}
	s, err := shim.New(ctx, h.Legacy, c)
	if err != nil {
		return err
	}
	h.shim = s
	return nil
}
