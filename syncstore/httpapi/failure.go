package httpapi

import (
	"errors"
	"net/http"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// storeFailed answers a store error: the sentinels with their protocol
// errors, anything else with 503 so clients back off and retry.
func (h *Handler) storeFailed(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	switch {
	case errors.Is(err, syncstore.ErrModified):
		sendWeaveError(w, http.StatusPreconditionFailed, errInvalidWrite)
	case errors.Is(err, syncstore.ErrOverQuota):
		sendBadRequest(w, errOverQuota)
	case errors.Is(err, syncstore.ErrNotFound):
		// The account was deleted after the request authenticated
		// (missing records are answered before this): its credentials
		// name no account any more, the 401 of a moment later
		// (docs/protocol.md §2.4, §7.2), not a database failure.
		sendUnauthorized(w)
	default:
		h.unavailable(w, r, rt, "database unavailable", err)
	}
}

// unavailable logs err and answers 503 with the back-off headers and a
// JSON string body "server issue: <what>" (docs/protocol.md §7.3).
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, rt *route, what string, err error) {
	level := zap.ErrorLevel
	if r.Context().Err() != nil {
		// The client hung up; the store only reported that.
		level = zap.DebugLevel
	}
	h.logger.Log(level, "sync request failed",
		zap.String("endpoint", endpointOf(rt, r.Method).String()),
		zap.String("method", r.Method),
		syncstore.UserField(h.logger, rt.user),
		zap.Error(err))
	sendUnavailable(w, h.retryAfter, what)
}

// recoverPanic turns a panic into a logged 503 instead of a dropped
// connection.
func (h *Handler) recoverPanic(w http.ResponseWriter, r *http.Request, rt *route) {
	v := recover()
	if v == nil {
		return
	}
	if v == http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
		panic(v)
	}
	h.logger.Error("panic serving sync request",
		zap.String("endpoint", endpointOf(rt, r.Method).String()),
		zap.String("method", r.Method),
		syncstore.UserField(h.logger, rt.user),
		zap.Any("panic", v),
		zap.Stack("stack"))
	sendUnavailable(w, h.retryAfter, "internal error")
}
