package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

func init() {
	caddy.RegisterModule(inflightGate{})
	httpcaddyfile.RegisterHandlerDirective("test_inflight_gate", func(httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
		return inflightGate{}, nil
	})
}

// inflightEntered receives one value per request that reached the
// test_inflight_gate handler: the test's way of knowing that a request
// is being handled, not merely sent.
var inflightEntered = make(chan struct{}, 16)

// inflightGate is a test-only middleware that reports each request it
// passes on.
type inflightGate struct{}

func (inflightGate) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.test_inflight_gate",
		New: func() caddy.Module { return inflightGate{} },
	}
}

func (inflightGate) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	select {
	case inflightEntered <- struct{}{}:
	default:
	}
	return next.ServeHTTP(w, r)
}

func (inflightGate) UnmarshalCaddyfile(*caddyfile.Dispenser) error { return nil }

// TestReloadFinishesRequestInFlight: a request whose handler is running
// when the config is reloaded (here: still reading the upload's body)
// finishes on the old server with 200, and its write is there for the
// new config.
func TestReloadFinishesRequestInFlight(t *testing.T) {
	dir := t.TempDir()
	unloadAtEnd(t)
	site := func(extra string) string {
		return globalOptions() + fmt.Sprintf(`
http://127.0.0.1:%d {
	route {
		test_inflight_gate
		firefox_sync {
			bcrypt_cost 4
			database sqlite %s
			%s
		}
	}
}
`, httpPort, dir, extra)
	}
	initServer(t, site(""))
	const email = "dora@example.com"
	c := newSyncClient(t, email, "correct horse battery")
	c.register(email)
	for len(inflightEntered) > 0 {
		<-inflightEntered
	}

	body, upload := io.Pipe()
	req, err := http.NewRequest("POST", c.base+"/1.1/"+c.user+"/storage/tabs", body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c.user, c.password)
	req.Header.Set("Content-Type", "application/json")
	done := sendInBackground(req)
	if _, err := io.WriteString(upload, `[{"id":"t1","payload":"`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inflightEntered:
	case <-time.After(30 * time.Second):
		t.Fatal("the upload never reached the handler")
	}

	// Reload (a different config, or Caddy keeps the old one) while the
	// handler waits for the rest of the body.
	initServer(t, site("quota 2MiB"))

	if _, err := io.WriteString(upload, `in flight during the reload"}]`); err != nil {
		t.Fatalf("finishing the upload after the reload: %v", err)
	}
	upload.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("upload in flight during the reload: %v", r.err)
	}
	if r.status != http.StatusOK || !strings.Contains(r.body, `"t1"`) {
		t.Fatalf("upload in flight during the reload: %d %s", r.status, r.body)
	}
	got := c.do("GET", "/1.1/"+c.user+"/storage/tabs/t1", "", true)
	if got.status != http.StatusOK || !strings.Contains(got.body, "in flight during the reload") {
		t.Errorf("the record uploaded across the reload, read from the new config: %d %s", got.status, got.body)
	}
}

// answer is what a request sent in the background got.
type answer struct {
	status int
	body   string
	err    error
}

// sendInBackground sends req on a fresh connection (so that it cannot be
// on one a reload closes as idle) and delivers the answer on the channel.
func sendInBackground(req *http.Request) <-chan answer {
	done := make(chan answer, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Minute}
		resp, err := client.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- answer{status: resp.StatusCode, body: string(b), err: err}
	}()
	return done
}
