package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// The answers a router in front of the Handler gives for users it does
// not send to the Handler, in the Handler's words, so that clients cannot
// tell who answered.

// Unavailable answers 503 with Retry-After and X-Weave-Backoff of
// retryAfter (whole seconds, at least one) and the JSON string
// "server issue: <what>" (docs/protocol.md §7.3), stamped with the server
// time: the answer for a user whose backend cannot serve them right now.
func (h *Handler) Unavailable(w http.ResponseWriter, retryAfter time.Duration, what string) {
	h.stamp(w)
	sendUnavailable(w, secondsText(max(retryAfter, time.Second)), what)
}

// ServeNodeURL answers GET /user/1.0/<u>/node/weave (docs/protocol.md §8.5)
// with this server's URL without looking the user up: for users served
// through this server from elsewhere, whose clients must keep talking to
// it rather than to the server that holds their data.
func (h *Handler) ServeNodeURL(w http.ResponseWriter, r *http.Request) {
	h.stamp(w)
	h.sendNodeURL(w, r)
}

// stamp sets X-Weave-Timestamp to the server time, which every answer
// carries (docs/protocol.md §4.1 decision).
func (h *Handler) stamp(w http.ResponseWriter) {
	w.Header().Set(headerTimestamp, syncstore.TimestampFromTime(h.clock()).String())
}

// sendUnavailable answers 503 telling the client to stay away for
// seconds (the header value).
func sendUnavailable(w http.ResponseWriter, seconds, what string) {
	hd := w.Header()
	hd.Set(headerRetryAfter, seconds)
	hd.Set(headerBackoff, seconds)
	send(w, http.StatusServiceUnavailable, typeJSON, syncstore.AppendJSONString(nil, "server issue: "+what))
}

// sendNodeURL answers node/weave with PublicURL, or the scheme and Host
// the request arrived with.
func (h *Handler) sendNodeURL(w http.ResponseWriter, r *http.Request) {
	node := h.publicURL
	if node == "" {
		if r.Host == "" {
			// No way to name this server: "no node available right now".
			send(w, http.StatusOK, typeJSON, []byte("null"))
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		node = scheme + "://" + r.Host + "/"
	}
	sendText(w, http.StatusOK, node)
}

// secondsText formats a back-off for Retry-After and X-Weave-Backoff:
// whole seconds, as configured.
func secondsText(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}

// BrokenUpload answers a request whose body could not be read to its end
// (the client went away or sent a malformed body) as the Handler answers
// a broken upload: 400 with Weave code 1 (docs/protocol.md §7.1).
func (h *Handler) BrokenUpload(w http.ResponseWriter) {
	h.stamp(w)
	sendBadRequest(w, errIllegalMethod)
}
