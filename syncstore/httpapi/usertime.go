package httpapi

import (
	"errors"
	"net/http"

	"github.com/syncserver/syncserver/syncstore"
)

// userNow is the X-Weave-Timestamp of an authenticated storage request:
// the clock, but never before the user's last write. Writes are stamped
// max(clock, last write + 10 ms), so without this a read in the same tick
// as two writes, or one served by an instance whose clock is behind,
// would answer an older time than the client was already given, and a
// client's clock must never go backwards (docs/protocol.md §3.2). The user's
// timestamp is read from the store, not kept in this process, because
// other instances on the same database write too. It sets the header and
// reports false when it has answered the request (503) itself.
func (h *Handler) userNow(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, now syncstore.Timestamp) (syncstore.Timestamp, bool) {
	last, err := h.store.UserTimestamp(r.Context(), u.ID)
	switch {
	case errors.Is(err, syncstore.ErrNotFound):
		// Deleted since it authenticated: nothing to stay after; the
		// request itself will find no user.
		return now, true
	case err != nil:
		h.storeFailed(w, r, rt, err)
		return now, false
	}
	if last > now {
		now = last
		setTimestamp(w, now)
	}
	return now, true
}
