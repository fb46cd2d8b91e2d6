package httpapi

import (
	"net/http"
	"strconv"
	"sync"

	"github.com/syncserver/syncserver/syncstore"
)

// Response headers of the protocol (docs/protocol.md §4.1).
const (
	headerTimestamp      = "X-Weave-Timestamp"
	headerRecords        = "X-Weave-Records"
	headerQuotaRemaining = "X-Weave-Quota-Remaining"
	headerBackoff        = "X-Weave-Backoff"
	headerRetryAfter     = "Retry-After"
)

// Content types of responses.
const (
	typeJSON     = "application/json"
	typeNewlines = "application/newlines"
	typeWhoisi   = "application/whoisi"
	typeText     = "text/plain; charset=utf-8"
	typeHTML     = "text/html; charset=utf-8"
)

// Weave error codes sent as bare JSON integers in 400 bodies (docs/protocol.md
// §7.1); 4 is also the body of 412.
const (
	errIllegalMethod    = 1
	errInvalidCaptcha   = 2
	errInvalidUsername  = 3
	errInvalidWrite     = 4
	errMalformedJSON    = 6
	errMissingPassword  = 7
	errInvalidWBO       = 8
	errWeakPassword     = 9
	errInvalidResetCode = 10
	errNoEmail          = 12
	errInvalidColl      = 13
	errOverQuota        = 14
	errEmailMismatch    = 15
	errSizeLimit        = 17
)

// contentTypes are the Content-Type header values, shared by every
// response instead of allocated for each, as Caddy shares its Server
// header's: header values are replaced or appended to (which copies a
// full slice), never changed in place.
var contentTypes = map[string][]string{
	typeJSON:     {typeJSON},
	typeNewlines: {typeNewlines},
	typeWhoisi:   {typeWhoisi},
	typeText:     {typeText},
	typeHTML:     {typeHTML},
}

// send writes a complete response. Every body is built in memory first so
// Content-Length is always known.
func send(w http.ResponseWriter, status int, contentType string, body []byte) {
	h := w.Header()
	if v, ok := contentTypes[contentType]; ok {
		h["Content-Type"] = v
	} else {
		h.Set("Content-Type", contentType)
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body) // a client that went away cannot be told
	}
}

// sendText answers with a plain-text body, the User API's usual form.
func sendText(w http.ResponseWriter, status int, text string) {
	send(w, status, typeText, []byte(text))
}

// sendWeaveError answers with a bare Weave error code.
func sendWeaveError(w http.ResponseWriter, status, code int) {
	send(w, status, typeJSON, strconv.AppendInt(nil, int64(code), 10))
}

// sendBadRequest answers 400 with a Weave error code.
func sendBadRequest(w http.ResponseWriter, code int) {
	sendWeaveError(w, http.StatusBadRequest, code)
}

// sendNotFound answers 404 for paths that match no route.
func sendNotFound(w http.ResponseWriter) {
	sendText(w, http.StatusNotFound, "not found")
}

// sendMethodNotAllowed answers 405 with the methods the route serves.
func sendMethodNotAllowed(w http.ResponseWriter, rt *route) {
	w.Header().Set("Allow", rt.kind.allowed())
	sendText(w, http.StatusMethodNotAllowed, "method not allowed")
}

// sendUnauthorized answers 401, which Sync clients take as "ask node/weave
// again, then report a login failure" (docs/protocol.md §2.4, §11.25).
func sendUnauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="Sync"`)
	sendText(w, http.StatusUnauthorized, "authentication failed")
}

// setTimestamp replaces the X-Weave-Timestamp set on entry with the
// timestamp a write committed (or the one userNow found), so header and
// body agree; a write's lateStamp then has nothing left to read.
func setTimestamp(w http.ResponseWriter, ts syncstore.Timestamp) {
	w.Header().Set(headerTimestamp, ts.String())
	if l, ok := w.(*lateStamp); ok {
		l.settled = true
	}
}

// sendTimestamp answers a write with its timestamp as a JSON number, the
// same text as X-Weave-Timestamp.
func sendTimestamp(w http.ResponseWriter, ts syncstore.Timestamp) {
	setTimestamp(w, ts)
	send(w, http.StatusOK, typeJSON, []byte(ts.String()))
}

// maxPooledBuffer keeps the pool from pinning the memory of one huge
// response or request.
const maxPooledBuffer = 4 << 20

// bufferPool recycles the byte slices responses are built in and request
// bodies are read into.
type bufferPool struct {
	pool sync.Pool
}

func (p *bufferPool) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 8<<10)
	return &b
}

func (p *bufferPool) put(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	*b = (*b)[:0]
	p.pool.Put(b)
}
