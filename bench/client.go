package bench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"time"
)

// syncClient speaks Sync 1.1 to one target.
type syncClient struct {
	hc   *http.Client
	root string // ends in "/"
	ua   string // User-Agent: tells seeding from workload in server logs
}

// User-Agent values of the bench's requests.
const (
	userAgentWorkload = "syncserver-bench/1 (workload)"
	userAgentSeed     = "syncserver-bench/1 (seed)"
)

func (c *syncClient) userURL(id *identity, suffix string) string {
	return c.root + "user/1.0/" + id.Name + suffix
}

func (c *syncClient) storageURL(id *identity, path string) string {
	return c.root + "1.1/" + id.Name + "/" + path
}

// response is a finished exchange. body aliases the caller's buffer.
type response struct {
	status  int
	header  http.Header
	body    []byte
	latency time.Duration
	done    time.Time
	err     error // transport failure: no status
	// legacy says the answer comes from a target declared legacy, whose
	// documented quirks the checks tolerate; quirks are those it showed.
	legacy bool
	quirks quirkSet
}

// header is one request header.
type header struct{ name, value string }

// do sends one request and reads the whole answer into buf. auth may be
// nil for the unauthenticated User API calls.
func (c *syncClient) do(ctx context.Context, method, url string, auth *identity, body []byte, hdrs []header, buf *bytes.Buffer) response {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return response{err: err, done: time.Now()}
	}
	req.Header.Set("User-Agent", c.ua)
	if auth != nil {
		req.Header.Set("Authorization", auth.auth)
	}
	if body != nil {
		// What Firefox's Resource layer sends; servers must not care.
		req.Header.Set("Content-Type", "text/plain")
	}
	for _, h := range hdrs {
		req.Header.Set(h.name, h.value)
	}
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		done := time.Now()
		return response{err: err, latency: done.Sub(start), done: done}
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	done := time.Now()
	r := response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes(), latency: done.Sub(start), done: done}
	if err != nil {
		r.err = err
	}
	return r
}
