package shim

import (
	"context"
	"net/http"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// serveCachedRead serves a read whose route came from the cache, with
// shards configured. The route may be up to route_cache_ttl old: the
// user may have been moved to another shard since, and their old shard,
// whose copy the migrate tool deletes after the flip, no longer knows
// them and answers 401. So a 401 is held back, the route is read again
// and, if the user now lives elsewhere, the target to serve instead is
// returned (nil: the answer was given). A wrong password costs one extra
// primary-key read of the route table.
func (s *Shim) serveCachedRead(w http.ResponseWriter, r *http.Request, req *httpapi.Request, t target, ob *openBackend) *target {
	hold := &holdUnauthorized{w: w, header: http.Header{}}
	ob.api.ServeRequest(hold, r, req)
	if !hold.held {
		return nil
	}
	if moved := s.movedTarget(r.Context(), t); moved != nil {
		return moved
	}
	hold.release()
	return nil
}

// movedTarget reads the user's route from the table and returns the new
// target if the user is now native on another shard.
func (s *Shim) movedTarget(ctx context.Context, t target) *target {
	now := s.clock()
	row, err := s.routes.refresh(ctx, t.user, s.ttl, now)
	if err != nil {
		return nil // the 401 stands; the next request reads the table again
	}
	next := s.targetOf(t.user, row, now)
	if next.state != syncstore.RouteNative || shardOf(next.row) == shardOf(t.row) {
		return nil
	}
	return &next
}

// shardOf is the shard a row names, "" without a row.
func shardOf(r *syncstore.Route) string {
	if r == nil {
		return ""
	}
	return r.Shard
}

// holdUnauthorized passes every answer through except a 401, which it
// keeps (headers and body) until release. Headers go to the real writer
// only with the status, so a held answer leaves nothing behind.
type holdUnauthorized struct {
	w      http.ResponseWriter
	header http.Header
	held   bool
	passed bool
	status int
	body   []byte
}

func (h *holdUnauthorized) Header() http.Header { return h.header }

func (h *holdUnauthorized) WriteHeader(code int) {
	switch {
	case h.held:
	case h.passed:
		h.w.WriteHeader(code)
	case code == http.StatusUnauthorized:
		h.held, h.status = true, code
	case code < http.StatusOK:
		h.copyHeader()
		h.w.WriteHeader(code)
	default:
		h.copyHeader()
		h.passed = true
		h.w.WriteHeader(code)
	}
}

func (h *holdUnauthorized) Write(b []byte) (int, error) {
	if !h.held && !h.passed {
		h.WriteHeader(http.StatusOK)
	}
	if h.held {
		h.body = append(h.body, b...)
		return len(b), nil
	}
	return h.w.Write(b)
}

func (h *holdUnauthorized) copyHeader() {
	dst := h.w.Header()
	for k, v := range h.header {
		dst[k] = v
	}
}

// release sends the held 401.
func (h *holdUnauthorized) release() {
	h.copyHeader()
	h.w.WriteHeader(h.status)
	_, _ = h.w.Write(h.body)
}
