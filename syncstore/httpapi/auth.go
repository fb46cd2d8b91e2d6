package httpapi

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"github.com/syncserver/syncserver/syncstore"
)

// authenticate checks the request's Basic credentials against the URL's
// user (PROTOCOL.md §2.4). On failure it has answered the request (401, or
// 503 when the store failed) and returns nil.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, rt *route) *syncstore.User {
	name, password, ok := r.BasicAuth()
	if !ok || !utf8.ValidString(name) || !utf8.ValidString(password) {
		sendUnauthorized(w)
		return nil
	}
	// The Reference compares the raw strings; PHP lowercased both. Stored
	// names are lower-case, so compare the way the store looks them up.
	user := syncstore.NormalizeUsername(rt.user)
	if syncstore.NormalizeUsername(name) != user {
		sendUnauthorized(w)
		return nil
	}
	u, err := h.auth.Authenticate(r.Context(), user, password)
	switch {
	case errors.Is(err, syncstore.ErrBadCredentials):
		sendUnauthorized(w)
		return nil
	case err != nil:
		h.unavailable(w, r, rt, "authentication unavailable", err)
		return nil
	}
	return u
}
