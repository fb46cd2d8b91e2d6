package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// observe makes the handler log into an in-memory observer.
func observe(logs **observer.ObservedLogs) func(*httpapi.Config) {
	return func(c *httpapi.Config) {
		core, l := observer.New(zapcore.DebugLevel)
		c.Logger = zap.New(core)
		*logs = l
	}
}

func TestStoreFailureIs503(t *testing.T) {
	var logs *observer.ObservedLogs
	withEnv(t, func(c *httpapi.Config) {
		observe(&logs)(c)
		c.RetryAfter = 120 * time.Second
	}, func(t *testing.T, e *env) {
		alice := e.user("alice")
		bob := e.user("bob")
		alice.get("info/collections").expectStatus(http.StatusOK) // alice's password is now cached
		// The database goes away.
		if err := e.store.Close(); err != nil {
			t.Fatal(err)
		}
		unavailable := func(r *resp, what string) {
			t.Helper()
			r.expect(http.StatusServiceUnavailable, `"server issue: `+what+`"`).
				expectHeader("Content-Type", "application/json").
				expectHeader("Retry-After", "120").
				expectHeader("X-Weave-Backoff", "120")
		}
		for _, r := range []*resp{
			alice.get("info/collections"),
			alice.get("info/collection_counts"),
			alice.get("info/collection_usage"),
			alice.get("info/quota"),
			alice.get("storage/bookmarks?full=1"),
			alice.get("storage/bookmarks/a"),
			alice.put("storage/bookmarks/a", `{"payload":"x"}`),
			alice.post("storage/bookmarks", `[{"id":"a","payload":"x"}]`),
			alice.del("storage/bookmarks/a"),
			alice.del("storage/bookmarks"),
			alice.del("storage", header("X-Confirm-Delete", "1")),
			e.do(http.MethodGet, "/user/1.0/alice", ""),
			e.do(http.MethodGet, "/user/1.0/alice/node/weave", ""),
			e.do(http.MethodPut, "/user/1.0/"+aliceHash, createBody("alice@example.com", "correct horse")),
		} {
			unavailable(r, "database unavailable")
		}
		// Without a cached password the login itself cannot be checked.
		unavailable(bob.get("info/collections"), "authentication unavailable")

		entries := logs.FilterMessage("sync request failed").All()
		if len(entries) < 15 {
			t.Fatalf("%d failures logged, want one per request", len(entries))
		}
		fields := entries[0].ContextMap()
		if fields["endpoint"] != "storage.info.collections" || fields["user"] != "alice" || fields["error"] == nil {
			t.Errorf("log fields %v", fields)
		}
		for _, entry := range logs.All() {
			for k, v := range entry.ContextMap() {
				s, _ := v.(string)
				if strings.Contains(s, alice.password) || strings.Contains(s, bob.password) ||
					strings.EqualFold(k, "authorization") {
					t.Errorf("log entry %q leaks credentials: %s=%v", entry.Message, k, v)
				}
			}
		}
		logs.TakeAll()
	})
}

// panickingStore is a real store with one method that panics, to check
// that a bug in a handler path becomes a 503 rather than a dropped
// connection.
type panickingStore struct {
	syncstore.Store
	value any
}

func (p panickingStore) CollectionCounts(context.Context, int64) (map[string]int64, error) {
	panic(p.value)
}

func TestPanicIs503(t *testing.T) {
	var logs *observer.ObservedLogs
	withEnv(t, func(c *httpapi.Config) {
		observe(&logs)(c)
		c.Store = panickingStore{Store: c.Store, value: "boom"}
	}, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.get("info/collection_counts").
			expect(http.StatusServiceUnavailable, `"server issue: internal error"`).
			expectHeader("Retry-After", "1800").
			expectHeader("X-Weave-Backoff", "1800")
		entries := logs.FilterMessage("panic serving sync request").All()
		if len(entries) != 1 {
			t.Fatalf("%d panics logged, want 1", len(entries))
		}
		if f := entries[0].ContextMap(); f["panic"] != "boom" || f["endpoint"] != "storage.info.collection_counts" {
			t.Errorf("panic log fields %v", f)
		}
		// Other requests are unaffected.
		c.get("info/collections").expect(http.StatusOK, "{}")
		logs.TakeAll()
	})
	// http.ErrAbortHandler keeps its meaning: abort the response.
	withEnv(t, func(c *httpapi.Config) {
		c.Store = panickingStore{Store: c.Store, value: http.ErrAbortHandler}
	}, func(t *testing.T, e *env) {
		e.user("alice")
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", v)
			}
		}()
		r := httptest.NewRequest(http.MethodGet, "/1.1/alice/info/collection_counts", nil)
		r.SetBasicAuth("alice", "password-alice")
		e.h.ServeHTTP(httptest.NewRecorder(), r)
		t.Error("ServeHTTP returned instead of re-panicking")
	})
}
