package caddymodule

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkInfoCollectionsChain is bench/info-vs-respond.sh without the
// network: an authenticated GET info/collections through Caddy's whole
// handler chain (server, routes, firefox_sync on SQLite with its
// deadline, credential cache and metrics) next to Caddy's own `respond`
// of the same body, both called on the loaded server's ServeHTTP, so
// that ns/op and allocs/op show what the sync handler adds to a static
// answer. The script's throughput ratio also includes the HTTP/1.1
// parsing and writing both share, and wrk.
func BenchmarkInfoCollectionsChain(b *testing.B) {
	const email = "bench@example.com"
	const password = "benchmark-password"
	user := syncUsername(email)
	sync := fmt.Sprintf("127.0.0.1:%d", httpPort)
	static := fmt.Sprintf("localhost:%d", httpPort)
	dir := b.TempDir()

	load := func(body string) *caddyhttp.Server {
		tester := caddytest.NewTester(b)
		tester.InitServer(globalOptions()+fmt.Sprintf(`
http://%s {
	firefox_sync {
		database sqlite %s
		bcrypt_cost 4
	}
}

http://%s {
	respond %q 200
}
`, sync, dir, static, body), "caddyfile")
		app, err := caddy.ActiveContext().App("http")
		if err != nil {
			b.Fatal(err)
		}
		for _, srv := range app.(*caddyhttp.App).Servers {
			return srv
		}
		b.Fatal("no HTTP server loaded")
		return nil
	}
	defer caddytest.NewTester(b).InitServer(emptyCaddyfile(), "caddyfile")

	srv := load("placeholder")
	do := func(method, host, path, body string, auth bool) *httptest.ResponseRecorder {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequest(method, "http://"+host+path, rd)
		if auth {
			req.SetBasicAuth(user, password)
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("%s %s: %d %s", method, path, w.Code, w.Body)
		}
		return w
	}
	reg, _ := json.Marshal(map[string]string{"email": email, "password": password})
	do("PUT", sync, "/user/1.0/"+user, string(reg), false)
	// The engines of a desktop profile, one record each, as the script
	// writes them.
	for _, c := range []string{"bookmarks", "history", "forms", "passwords", "prefs", "tabs", "clients", "addons", "meta", "crypto"} {
		do("PUT", sync, "/1.1/"+user+"/storage/"+c+"/record1", `{"payload":"{\"ciphertext\":\"x\"}"}`, true)
	}
	body := do("GET", sync, "/1.1/"+user+"/info/collections", "", true).Body.String()
	// The same configuration again, with the static site answering the
	// very same bytes; the database is shared and the user stays.
	srv = load(body)

	for _, site := range []struct{ name, host, path string }{
		{"respond", static, "/"},
		{"firefox_sync", sync, "/1.1/" + user + "/info/collections"},
	} {
		b.Run(site.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "http://"+site.host+site.path, nil)
			req.SetBasicAuth(user, password)
			w := &discard{header: http.Header{}}
			check := func() {
				if w.code != http.StatusOK || w.n != len(body) {
					b.Fatalf("GET %s: %d, %d bytes", site.path, w.code, w.n)
				}
			}
			srv.ServeHTTP(w, req) // the login is cached from here on
			check()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w.reset()
				srv.ServeHTTP(w, req)
			}
			check()
		})
	}
}

// discard is a ResponseWriter that keeps only the status and the body's
// length, so a benchmark measures the handlers rather than a recorder.
type discard struct {
	header http.Header
	code   int
	n      int
}

func (d *discard) Header() http.Header { return d.header }

func (d *discard) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}

func (d *discard) Write(b []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.n += len(b)
	return len(b), nil
}

func (d *discard) reset() {
	clear(d.header)
	d.code, d.n = 0, 0
}
