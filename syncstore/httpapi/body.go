package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// errBodyTooLarge: the request body exceeds MaxRequestBytes.
var errBodyTooLarge = errors.New("request body too large")

// readBody reads the request body into a pooled buffer, refusing bodies
// over MaxRequestBytes before anything is written. The caller must
// release the buffer with h.buffers.put once done with the bytes.
func (h *Handler) readBody(r *http.Request) (*[]byte, error) {
	if r.ContentLength > h.maxRequest {
		return nil, errBodyTooLarge
	}
	buf := h.buffers.get()
	b := *buf
	lr := io.LimitReader(r.Body, h.maxRequest+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := lr.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*buf = b
			h.buffers.put(buf)
			return nil, fmt.Errorf("reading request body: %w", err)
		}
	}
	*buf = b
	if int64(len(b)) > h.maxRequest {
		h.buffers.put(buf)
		return nil, errBodyTooLarge
	}
	return buf, nil
}

// readBodyOrFail reads the body and answers the request itself when that
// fails: 400 body 17 for oversized bodies, 400 body 1 for broken uploads.
func (h *Handler) readBodyOrFail(w http.ResponseWriter, r *http.Request) *[]byte {
	buf, err := h.readBody(r)
	switch {
	case errors.Is(err, errBodyTooLarge):
		sendBadRequest(w, errSizeLimit)
		return nil
	case err != nil:
		sendBadRequest(w, errIllegalMethod)
		return nil
	}
	return buf
}
