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

// lateStamp is userNow for a write, put off until the answer: a write
// that commits answers with its commit timestamp, which the store made
// strictly greater than the user's last write whichever instance made
// that one, so the read userNow does is needed only by the answers that
// carry no commit timestamp (refusals, bad bodies, store errors, a batch
// with nothing to write). Those read it when their header is written,
// just before it goes out; the rest skip a database read per write.
type lateStamp struct {
	http.ResponseWriter
	h *Handler
	r *http.Request
	// rt is a copy, so that the request's own route stays on the
	// stack of the requests (reads) that make no lateStamp.
	rt  route
	u   *syncstore.User
	now syncstore.Timestamp
	// settled: the header holds a commit timestamp, or userNow ran.
	settled bool
	// failed: userNow could not read the user's timestamp and answered
	// 503 itself; the handler's own answer is dropped.
	failed bool
}

// settle runs userNow once and returns the timestamp to answer with;
// false means userNow has answered 503 instead.
func (l *lateStamp) settle() (syncstore.Timestamp, bool) {
	if !l.settled {
		l.settled = true
		now, ok := l.h.userNow(l.ResponseWriter, l.r, &l.rt, l.u, l.now)
		l.now, l.failed = now, !ok
	}
	return l.now, !l.failed
}

// WriteHeader sends the header with X-Weave-Timestamp not below the
// user's last write.
func (l *lateStamp) WriteHeader(code int) {
	if _, ok := l.settle(); !ok {
		return
	}
	l.ResponseWriter.WriteHeader(code)
}

func (l *lateStamp) Write(b []byte) (int, error) {
	if !l.settled {
		l.WriteHeader(http.StatusOK)
	}
	if l.failed {
		return len(b), nil
	}
	return l.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (l *lateStamp) Unwrap() http.ResponseWriter {
	return l.ResponseWriter
}

// writeMethod reports the methods of the writes whose userNow lateStamp
// puts off.
func writeMethod(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodDelete
}

// settledNow is the timestamp a write answers with when it did not
// commit: userNow's, through the lateStamp w when there is one. false
// means the request has been answered (503).
func settledNow(w http.ResponseWriter, now syncstore.Timestamp) (syncstore.Timestamp, bool) {
	if l, ok := w.(*lateStamp); ok {
		return l.settle()
	}
	return now, true
}
