package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// discard is a ResponseWriter that keeps only the status, so benchmarks
// measure the handler and the store rather than a recorder.
type discard struct {
	header http.Header
	code   int
	n      int
}

func (d *discard) Header() http.Header { return d.header }

func (d *discard) WriteHeader(code int) { d.code = code }

func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

func (d *discard) reset() {
	clear(d.header)
	d.code, d.n = 0, 0
}

// benchEnv opens a fresh handler per backend for a benchmark.
func benchEach(b *testing.B, fn func(b *testing.B, e *env)) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { fn(b, newEnv(b, be, nil)) })
	}
}

// serve runs one request per iteration and checks the status of each.
func serve(b *testing.B, e *env, newReq func() *http.Request, want int) {
	b.Helper()
	w := &discard{header: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.reset()
		e.h.ServeHTTP(w, newReq())
		if w.code != want {
			b.Fatalf("status %d, want %d", w.code, want)
		}
	}
}

// payload300 is a record payload of about 300 bytes, the size of a typical
// encrypted history or bookmark record.
var payload300 = `{"ciphertext":"` + strings.Repeat("A", 240) + `","IV":"aXZpdml2aXZpdml2aXY=","hmac":"` + strings.Repeat("f", 16) + `"}`

func batchBody(prefix string, n int) string {
	recs := make([]string, n)
	for i := range recs {
		recs[i] = fmt.Sprintf(`{"id":"%s%07d","sortindex":%d,"payload":%q}`, prefix, i, i, payload300)
	}
	return "[" + strings.Join(recs, ",") + "]"
}

// BenchmarkInfoCollections is the request every sync starts with:
// authenticated (credentials cached) GET info/collections.
func BenchmarkInfoCollections(b *testing.B) {
	benchEach(b, func(b *testing.B, e *env) {
		c := e.user("alice")
		for _, coll := range []string{"meta", "crypto", "clients", "bookmarks", "history", "tabs", "forms", "prefs"} {
			c.post("storage/"+coll, batchBody(coll, 3)).expectStatus(http.StatusOK)
		}
		req := httptest.NewRequest(http.MethodGet, "/1.1/alice/info/collections", nil)
		req.SetBasicAuth(c.name, c.password)
		serve(b, e, func() *http.Request { return req }, http.StatusOK)
	})
}

// BenchmarkGetCollectionFull downloads from a user holding 6,000
// bookmarks: the last 100 changed (a steady-state sync) and all of them
// (a new device).
func BenchmarkGetCollectionFull(b *testing.B) {
	benchEach(b, func(b *testing.B, e *env) {
		c := e.user("alice")
		var lastButOne string
		for i := range 60 {
			e.clock.Advance(time.Second)
			r := c.post("storage/bookmarks", batchBody(fmt.Sprintf("b%02d-", i), 100)).expectStatus(http.StatusOK)
			if i == 58 {
				lastButOne = r.timestamp()
			}
		}
		for _, q := range []struct{ name, newer string }{{"newer=recent", lastButOne}, {"newer=0", "0"}} {
			b.Run(q.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/1.1/alice/storage/bookmarks?full=1&newer="+q.newer, nil)
				req.SetBasicAuth(c.name, c.password)
				req.Header.Set("Accept", "application/newlines")
				serve(b, e, func() *http.Request { return req }, http.StatusOK)
			})
		}
	})
}

// BenchmarkPost100 uploads a full batch of 100 records of ~300 bytes,
// overwriting the same ids each time as repeated syncs do.
func BenchmarkPost100(b *testing.B) {
	benchEach(b, func(b *testing.B, e *env) {
		c := e.user("alice")
		body := batchBody("h", 100)
		serve(b, e, func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, "/1.1/alice/storage/history", strings.NewReader(body))
			req.SetBasicAuth(c.name, c.password)
			return req
		}, http.StatusOK)
	})
}
