package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/syncserver/syncserver/syncstore"
)

var (
	// errBodyTooLarge: the request body exceeds MaxRequestBytes.
	errBodyTooLarge = errors.New("request body too large")
	// errBodyBudget: the body bytes of the requests in flight stayed at
	// BodyBudgetBytes for all of BodyWait.
	errBodyBudget = errors.New("too many request bodies in flight")
)

// budgetRetryAfter is the Retry-After of a 503 for a full body budget:
// uploads in flight finish within seconds, so the client may come back
// soon (RetryAfter, for a failed database, is much longer).
const budgetRetryAfter = 10 * time.Second

// requestBody is a request body read into memory. Its bytes count
// against the handler's body budget until released.
type requestBody struct {
	data []byte
	buf  *[]byte // the pooled buffer data lives in
	held int64   // bytes reserved in the budget
	// user is the share of the user's uploads that holds the bytes too.
	user *userShare
	name string
}

// userShares caps what the uploads of one user hold of the body budget
// together, so that an account stalling many uploads at once (a body
// arriving a byte a minute keeps its reservation) cannot leave every
// other user's uploads 503. The share is a sixteenth of the budget, and
// at least one body of max_request_bytes; a user's writes are serialised
// by the store anyway, so parallel uploads gain them little.
type userShares struct {
	mu     sync.Mutex
	size   int64
	shares map[string]*userShare
}

// userShare is one user's part of the budget, kept while requests of the
// user use it.
type userShare struct {
	sem  *semaphore.Weighted
	refs int
}

func newUserShares(budget, maxRequest int64) *userShares {
	return &userShares{size: max(budget/16, maxRequest), shares: make(map[string]*userShare)}
}

// acquire reserves n bytes of user's share, waiting until ctx is done.
func (s *userShares) acquire(ctx context.Context, user string, n int64) (*userShare, error) {
	s.mu.Lock()
	sh := s.shares[user]
	if sh == nil {
		sh = &userShare{sem: semaphore.NewWeighted(s.size)}
		s.shares[user] = sh
	}
	sh.refs++
	s.mu.Unlock()
	if err := sh.sem.Acquire(ctx, n); err != nil {
		s.drop(user, sh)
		return nil, err
	}
	return sh, nil
}

// release gives back n bytes acquired for user.
func (s *userShares) release(user string, sh *userShare, n int64) {
	sh.sem.Release(n)
	s.drop(user, sh)
}

func (s *userShares) drop(user string, sh *userShare) {
	s.mu.Lock()
	if sh.refs--; sh.refs == 0 {
		delete(s.shares, user)
	}
	s.mu.Unlock()
}

// readBody reads the request body, refusing bodies over MaxRequestBytes
// before anything is written. It first reserves the body's size (the
// declared Content-Length, or MaxRequestBytes for a body of unknown
// length) in the server-wide budget, waiting up to BodyWait for room, so
// that what all requests together hold stays bounded however many upload
// at once. The caller must release the body with h.releaseBody.
func (h *Handler) readBody(r *http.Request, user string) (*requestBody, error) {
	if r.ContentLength > h.maxRequest {
		return nil, errBodyTooLarge
	}
	size := r.ContentLength
	if size < 0 {
		size = h.maxRequest
	}
	body := &requestBody{}
	if size > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), h.bodyWait)
		sh, err := h.userShares.acquire(ctx, user, size)
		if err == nil {
			if err = h.budget.Acquire(ctx, size); err != nil {
				h.userShares.release(user, sh, size)
			}
		}
		cancel()
		if err != nil {
			if r.Context().Err() != nil {
				return nil, fmt.Errorf("waiting to read the request body: %w", r.Context().Err())
			}
			return nil, errBodyBudget
		}
		body.held, body.user, body.name = size, sh, user
	}
	body.buf = h.buffers.get()
	b := *body.buf
	if r.ContentLength > 0 && int64(cap(b)) <= r.ContentLength {
		// Sized once for the declared length (+1 to see the end), rather
		// than doubled while reading, which held up to twice the body.
		b = make([]byte, 0, r.ContentLength+1)
	}
	limit := int(h.maxRequest + 1)
	lr := io.LimitReader(r.Body, int64(limit))
	for {
		if len(b) == cap(b) {
			b = slices.Grow(b, min(max(cap(b), 8<<10), limit-len(b)))
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*body.buf = b
			h.releaseBody(body)
			return nil, fmt.Errorf("reading request body: %w", err)
		}
	}
	*body.buf = b
	body.data = b
	if int64(len(b)) > h.maxRequest {
		h.releaseBody(body)
		return nil, errBodyTooLarge
	}
	return body, nil
}

// maxUserBodyBytes bounds the body of a User API request: a password, an
// e-mail address or a registration (docs/protocol.md §8), a few hundred
// bytes. Such bodies are read outside the body budget: the password
// change reads its body before it checks any credentials and registration
// has none, so if they held the budget, clients without an account could
// stall a few dozen of them and leave every upload 503 (docs/protocol.md
// §7.1 code 17).
const maxUserBodyBytes = 16 << 10

// readUserBodyOrFail reads a User API body of at most maxUserBodyBytes
// (and MaxRequestBytes), outside the body budget, and answers the request
// itself when that fails: 400 body 17 when it is larger, 400 body 1 for a
// broken upload.
func (h *Handler) readUserBodyOrFail(w http.ResponseWriter, r *http.Request) []byte {
	limit := min(h.maxRequest, maxUserBodyBytes)
	if r.ContentLength > limit {
		closeAfterAnswer(w, r)
		sendBadRequest(w, errSizeLimit)
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	switch {
	case err != nil:
		sendBadRequest(w, errIllegalMethod)
		return nil
	case int64(len(b)) > limit:
		closeAfterAnswer(w, r)
		sendBadRequest(w, errSizeLimit)
		return nil
	}
	return b
}

// releaseBody returns the body's buffer and its share of the budget.
func (h *Handler) releaseBody(body *requestBody) {
	h.buffers.put(body.buf)
	body.data = nil
	if body.held > 0 {
		h.budget.Release(body.held)
		h.userShares.release(body.name, body.user, body.held)
		body.held, body.user = 0, nil
	}
}

// readBodyOrFail reads the body of an upload of u and answers the request itself when that
// fails: 400 body 17 for oversized bodies, 503 with Retry-After when the
// body budget stayed full, 400 body 1 for broken uploads.
func (h *Handler) readBodyOrFail(w http.ResponseWriter, r *http.Request, u *syncstore.User) *requestBody {
	body, err := h.readBody(r, u.Name)
	switch {
	case errors.Is(err, errBodyTooLarge):
		closeAfterAnswer(w, r)
		sendBadRequest(w, errSizeLimit)
		return nil
	case errors.Is(err, errBodyBudget):
		sendUnavailable(w, retrySeconds(budgetRetryAfter), "too many uploads in progress")
		return nil
	case err != nil:
		sendBadRequest(w, errIllegalMethod)
		return nil
	}
	return body
}

// maxDrainBytes is net/http's maxPostHandlerReadBytes: the unread body it
// is willing to read and discard after the handler to keep a connection.
const maxDrainBytes = 256 << 10

// closeAfterAnswer closes an HTTP/1 connection once the answer is sent,
// for a request whose body will not be read to its end (one over
// max_request_bytes, docs/protocol.md §7.1 code 17) and may hold
// maxDrainBytes or more, or an unknown amount. net/http closes such a
// connection itself, but behind Caddy, whose body wrapper hides
// net/http's own body type, it drains up to 256 KiB of the body first,
// before it writes the answer: a client that waits for the answer before
// sending the rest (Expect: 100-continue) or that stalled got no answer
// until Caddy's read timeout dropped the connection. A smaller remainder
// is drained as net/http does, which keeps the connection. HTTP/2 is left
// alone: there the header would shut down every stream of the
// connection, and flow control already stops the body.
func closeAfterAnswer(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 && (r.ContentLength < 0 || r.ContentLength >= maxDrainBytes) {
		w.Header().Set("Connection", "close")
	}
}
