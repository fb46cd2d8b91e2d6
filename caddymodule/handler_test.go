package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/syncserver/syncserver/syncstore"
)

func provisioned(t *testing.T, h *Handler) {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("Provision: %v", err)
	}
}

// TestBackgroundPurge: the handler deletes expired records every
// purge_interval and stops doing so at Cleanup, which also closes the
// database it was the only user of.
func TestBackgroundPurge(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	past := openSQLite(t, dir, func() time.Time { return time.Now().Add(-time.Hour) })
	u := &syncstore.User{Name: "purgeuser", PasswordHash: "x"}
	if err := past.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	ttl, payload := int64(60), "tab"
	if _, err := past.PutRecords(ctx, u.ID, "tabs", []syncstore.WBO{{ID: "t", Payload: &payload, TTL: &ttl}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	past.Close()

	every := caddy.Duration(20 * time.Millisecond)
	h := &Handler{Database: &Database{Dir: dir}, PurgeInterval: &every, BcryptCost: 4}
	provisioned(t, h)
	store, refs := poolEntry(t, *h.Database)
	if store == nil || refs != 1 {
		t.Fatalf("store not pooled: %p, %d", store, refs)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		colls, err := store.CollectionTimestamps(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := colls["tabs"]; !ok {
			break // the expired record is gone, and with it the collection
		}
		if time.Now().After(deadline) {
			t.Fatal("expired record not purged in the background")
		}
	}

	if err := h.Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if s, refs := poolEntry(t, *h.Database); s != nil || refs != 0 {
		t.Errorf("database still pooled after Cleanup: %p, %d", s, refs)
	}
	if err := h.Cleanup(); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// TestServeHTTPIsTerminal: the handler answers everything itself, never
// calling the next handler, and counts what it answered.
func TestServeHTTPIsTerminal(t *testing.T) {
	off := caddy.Duration(0)
	h := &Handler{Database: &Database{Dir: t.TempDir()}, PurgeInterval: &off}
	provisioned(t, h)
	t.Cleanup(func() { h.Cleanup() })
	if h.stacks[0].purge != nil {
		t.Error("purge_interval 0 started a purger")
	}
	for path, status := range map[string]int{"/__heartbeat__": 200, "/no/such/path": 404, "/1.1/alice/info/collections": 401} {
		rec := httptest.NewRecorder()
		next := nextFunc(func(http.ResponseWriter, *http.Request) error {
			t.Errorf("%s: next handler called", path)
			return nil
		})
		if err := h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil), next); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		if rec.Code != status || rec.Header().Get("X-Weave-Timestamp") == "" {
			t.Errorf("%s: %d %v, want %d with X-Weave-Timestamp", path, rec.Code, rec.Header(), status)
		}
	}
}

type nextFunc func(http.ResponseWriter, *http.Request) error

func (f nextFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// TestProvisionErrors: bad configuration fails before any database is
// opened, and a database that cannot be opened names itself.
func TestProvisionErrors(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()

	h := &Handler{Database: &Database{Driver: "mysql"}}
	if err := h.Provision(ctx); err == nil || !strings.Contains(err.Error(), "needs a dsn") {
		t.Errorf("mysql without dsn: %v", err)
	}
	if len(h.stacks) != 0 {
		t.Error("a failed Provision holds a pooled store")
	}

	h = &Handler{Database: &Database{Driver: "mysql", DSN: "root@tcp(127.0.0.1:1)/nothing?timeout=1s"}}
	start := time.Now()
	err := h.Provision(ctx)
	if err == nil || !strings.Contains(err.Error(), "opening MySQL database") {
		t.Errorf("unreachable MySQL: %v", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("unreachable MySQL took %v to fail", time.Since(start))
	}
	if err == nil {
		h.Cleanup()
	}
}
