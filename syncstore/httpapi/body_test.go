package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// largestLegalPost builds a POST every record of which is accepted under
// the default limits, with the most bytes JSON allows it: 100 records
// with the longest ids and parentids, written with escapes, and payloads
// of quotes (each sent as two bytes) adding up to just under 1 MiB.
func largestLegalPost() string {
	n := httpapi.DefaultMaxPostRecords
	payload := strings.Repeat(`"`, (httpapi.DefaultMaxPostBytes-1)/n)
	parent := strings.Repeat("\x01", 64)
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("%03d", i) + strings.Repeat(`"`, 61)
		rec, _ := json.Marshal(map[string]any{
			"id": id, "parentid": parent, "predecessorid": parent,
			"sortindex": -999999999, "ttl": 31536000, "payload": payload,
		})
		b.Write(rec)
	}
	b.WriteByte(']')
	return b.String()
}

func TestDefaultRequestLimitFitsTheLargestPost(t *testing.T) {
	body := largestLegalPost()
	if int64(len(body)) > httpapi.DefaultMaxRequestBytes {
		t.Fatalf("the largest legal POST has %d bytes, over the default limit %d", len(body), httpapi.DefaultMaxRequestBytes)
	}
	if want := int64(100*1024 + 2*1048576); httpapi.DefaultMaxRequestBytes != want ||
		httpapi.MaxRequestBytesFor(httpapi.DefaultMaxPostRecords, httpapi.DefaultMaxPostBytes) != want {
		t.Errorf("DefaultMaxRequestBytes = %d, want %d (100 × 1 KiB + 2 × 1 MiB)", httpapi.DefaultMaxRequestBytes, want)
	}
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		r := c.post("storage/history", body).expectStatus(http.StatusOK)
		var res struct {
			Success []string
			Failed  map[string][]string
		}
		if err := json.Unmarshal([]byte(r.body), &res); err != nil || len(res.Success) != 100 || len(res.Failed) != 0 {
			t.Errorf("largest legal POST: %d accepted, failed %v (%v), want all 100", len(res.Success), res.Failed, err)
		}
		over := strings.Repeat(" ", int(httpapi.DefaultMaxRequestBytes)-2)
		c.post("storage/history", "["+over+"]").expectStatus(http.StatusOK)
		c.post("storage/history", "["+over+" ]").expect(http.StatusBadRequest, "17")
	})
}

// The default limit follows the configured POST limits.
func TestRequestLimitFollowsPostLimits(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.MaxPostRecords = 2; c.MaxPostBytes = 10 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		limit := int(httpapi.MaxRequestBytesFor(2, 10)) // 2068
		c.post("storage/history", "["+strings.Repeat(" ", limit-2)+"]").expectStatus(http.StatusOK)
		c.post("storage/history", "["+strings.Repeat(" ", limit-1)+"]").expect(http.StatusBadRequest, "17")
	})
}

// smallBodies configures bodies of at most 1000 bytes, a body budget of
// budget bytes and a 20 ms wait for room in it, so that a few stalled
// uploads fill the budget.
func smallBodies(budget int64) func(*httpapi.Config) {
	return func(c *httpapi.Config) {
		c.MaxRequestBytes = 1000
		c.BodyBudgetBytes = budget
		c.BodyWait = 20 * time.Millisecond
	}
}

// TestBodyBudgetFullAnswers503: while one upload holds the whole budget,
// another waits BodyWait and is refused with 503 and Retry-After; once
// the first is done, uploads go through again.
func TestBodyBudgetFullAnswers503(t *testing.T) {
	withEnv(t, smallBodies(1000), func(t *testing.T, e *env) {
		c := e.user("alice")
		pr, pw := io.Pipe()
		slow := httptest.NewRequest(http.MethodPost, c.url("storage/history"), pr)
		slow.SetBasicAuth(c.name, c.password)
		slow.ContentLength = 1000
		done := make(chan *httptest.ResponseRecorder)
		go func() {
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, slow)
			done <- w
		}()
		body := `[{"id":"a","payload":"x"}]` + strings.Repeat(" ", 1000-26)
		// The write returns once the handler reads: it holds the budget.
		if _, err := io.WriteString(pw, body[:1]); err != nil {
			t.Fatal(err)
		}
		c.post("storage/history", `[{"id":"b","payload":"y"}]`).
			expect(http.StatusServiceUnavailable, `"server issue: too many uploads in progress"`).
			expectHeader("Retry-After", "10").
			expectHeader("X-Weave-Backoff", "10")
		// A request without a body needs no room.
		c.get("storage/history").expectStatus(http.StatusOK)
		if _, err := io.WriteString(pw, body[1:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if w := <-done; w.Code != http.StatusOK {
			t.Fatalf("slow upload: %d %s", w.Code, w.Body)
		}
		c.post("storage/history", `[{"id":"b","payload":"y"}]`).expectStatus(http.StatusOK)
		c.get("storage/history").expectJSON(http.StatusOK, `["a","b"]`)
	})
}

func TestBodyBudgetConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*httpapi.Config)
		want   string
	}{
		{"below request limit", func(c *httpapi.Config) { c.MaxRequestBytes = 2000; c.BodyBudgetBytes = 1000 },
			"body budget 1000 bytes is less than max request bytes 2000"},
		{"negative budget", func(c *httpapi.Config) { c.BodyBudgetBytes = -1 }, "body budget -1 bytes is negative"},
		{"negative wait", func(c *httpapi.Config) { c.BodyWait = -time.Second }, "body wait -1s is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := httpapi.Config{Store: openSQLite(t, nil), Auth: nil}
			tc.mutate(&cfg)
			_, err := httpapi.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// heapBytes is the Go heap's object bytes, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestMemoryBoundedUnderManyUploads sends 48 uploads at the request limit
// at once, half of them valid POSTs of 1 MiB of payload and half invalid
// JSON (the report: twenty concurrent 30 MB POSTs took a server from 60 MB
// to 1.38 GB). Without a budget they would hold 48 × 2.1 MiB = 100 MiB of
// bodies at once; with an 8 MiB budget the heap must stay within
// 4 × budget + 16 MiB of where it started (bodies in flight, their
// decoded payloads and garbage the collector has not reached yet).
func TestMemoryBoundedUnderManyUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads 100 MiB")
	}
	const (
		clients = 48
		budget  = 8 << 20
		bound   = 4*budget + 16<<20
	)
	e := newEnv(t, backend{"sqlite", openSQLite}, func(c *httpapi.Config) {
		c.BodyBudgetBytes = budget
		c.BodyWait = time.Minute // measure memory, not refusals
		c.QuotaBytes = 0
	})
	c := e.user("alice")
	limit := int(httpapi.DefaultMaxRequestBytes)
	payload := strings.Repeat("p", httpapi.DefaultMaxPostBytes/4-1)
	valid := fmt.Sprintf(`[{"id":"a","payload":%q},{"id":"b","payload":%q},{"id":"c","payload":%q},{"id":"d","payload":%q}]`,
		payload, payload, payload, payload)
	valid += strings.Repeat(" ", limit-len(valid))
	invalid := "[" + strings.Repeat("x", limit-1)

	// Garbage counts in the heap until the collector reaches it, and by
	// default it may let the heap grow to twice what is live, whatever
	// earlier tests left live: a low GOGC keeps the measure about what the
	// uploads hold.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	base := heapBytes()
	var (
		peak atomic64
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			peak.max(heapBytes())
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	codes := make([]int, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := valid
			if i%2 == 1 {
				body = invalid
			}
			r := httptest.NewRequest(http.MethodPost, c.url("storage/history"), strings.NewReader(body))
			r.SetBasicAuth(c.name, c.password)
			w := &recorder{header: http.Header{}}
			e.h.ServeHTTP(w, r)
			codes[i] = w.code
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	for i, code := range codes {
		want := http.StatusOK
		if i%2 == 1 {
			want = http.StatusBadRequest
		}
		if code != want {
			t.Errorf("upload %d: status %d, want %d", i, code, want)
		}
	}
	grew := int64(peak.load()) - int64(base)
	t.Logf("heap grew by at most %.1f MiB for %d uploads of %.1f MiB (budget %d MiB, bound %d MiB)",
		float64(grew)/(1<<20), clients, float64(limit)/(1<<20), budget>>20, bound>>20)
	if grew > bound {
		t.Errorf("heap grew by %.1f MiB, over the bound of %d MiB", float64(grew)/(1<<20), bound>>20)
	}
}

// atomic64 keeps the largest value it was given.
type atomic64 struct {
	mu sync.Mutex
	v  uint64
}

func (a *atomic64) max(v uint64) {
	a.mu.Lock()
	a.v = max(a.v, v)
	a.mu.Unlock()
}

func (a *atomic64) load() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.v
}
