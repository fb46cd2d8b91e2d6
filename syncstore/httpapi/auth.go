package httpapi

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// authenticate checks the request's Basic credentials against the URL's
// user (docs/protocol.md §2.4). On failure it has answered the request (401,
// 503 when the store failed or the client address is throttled) and
// returns nil.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, rt *route) *syncstore.User {
	name, password, ok := r.BasicAuth()
	if !ok || !utf8.ValidString(name) || !utf8.ValidString(password) {
		sendUnauthorized(w)
		return nil
	}
	// The Reference compares the raw strings; PHP lowercased both. Stored
	// names are lower-case, so compare the way the store looks them up.
	user := rt.user
	if syncstore.NormalizeUsername(name) != user {
		// Not counted as a failure: no password was checked.
		sendUnauthorized(w)
		return nil
	}
	var (
		addr netip.Addr
		now  time.Time
	)
	if h.throttle != nil {
		addr, now = h.throttleAddr(r), h.clock()
		switch v, wait := h.throttle.check(user, addr, now); v {
		case addrThrottled:
			h.sendThrottled(w, wait)
			return nil
		case userThrottled:
			// The same 401 as a wrong password, so guessing learns
			// nothing, but without the bcrypt cost.
			w.Header().Set(headerRetryAfter, retrySeconds(wait))
			sendUnauthorized(w)
			return nil
		}
	}
	u, err := h.auth.Authenticate(r.Context(), user, password)
	switch {
	case errors.Is(err, syncstore.ErrBadCredentials):
		if h.throttle != nil {
			h.loginFailed(user, addr, now)
		}
		sendUnauthorized(w)
		return nil
	case err != nil:
		h.unavailable(w, r, rt, "authentication unavailable", err)
		return nil
	}
	if h.throttle != nil {
		h.throttle.succeeded(user, addr, now)
	}
	return u
}

// throttleAddr is the client address failed logins are counted under.
func (h *Handler) throttleAddr(r *http.Request) netip.Addr {
	if h.clientAddr != nil {
		return throttleAddr(h.clientAddr(r))
	}
	return throttleAddr(r.RemoteAddr)
}

// loginFailed counts a wrong password and logs the refusal periods it
// starts (one line per period, however many attempts it refuses).
func (h *Handler) loginFailed(user string, addr netip.Addr, now time.Time) {
	userWait, addrWait := h.throttle.failed(user, addr, now)
	if userWait > 0 {
		h.logger.Warn("too many failed logins for user; refusing its logins",
			syncstore.UserField(h.logger, user),
			zap.Stringer("address", addr),
			zap.Duration("backoff", userWait))
	}
	if addrWait > 0 {
		h.logger.Warn("too many failed logins from address; refusing its logins",
			zap.Stringer("address", addr),
			syncstore.UserField(h.logger, user),
			zap.Duration("backoff", addrWait))
	}
}

// sendThrottled answers an attempt from a throttled address: 503 with the
// back-off headers set to the rest of its refusal period.
func (h *Handler) sendThrottled(w http.ResponseWriter, wait time.Duration) {
	s := retrySeconds(wait)
	hd := w.Header()
	hd.Set(headerRetryAfter, s)
	hd.Set(headerBackoff, s)
	send(w, http.StatusServiceUnavailable, typeJSON, syncstore.AppendJSONString(nil, "server issue: too many failed logins"))
}

// retrySeconds is wait in whole seconds, rounded up so a client that
// obeys it is not refused again.
func retrySeconds(wait time.Duration) string {
	return strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10)
}
