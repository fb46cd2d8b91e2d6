package caddymodule

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// BenchmarkShimOverhead compares a trivial upstream reached directly, the
// same upstream behind a plain Caddy reverse_proxy (the hop alone), and
// behind the shim (a legacy user: route decision, then the same
// reverse_proxy), over keep-alive connections. serial gives the latency
// each request gains; parallel the throughput ratio.
func BenchmarkShimOverhead(b *testing.B) {
	payload := []byte(`{"bookmarks":1795773375.6,"meta":1795773374.68}`)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Weave-Timestamp", "1795773376")
		_, _ = w.Write(payload)
	}))
	defer upstream.Close()

	tester := caddytest.NewTester(b)
	tester.InitServer(globalOptions()+fmt.Sprintf(`
http://127.0.0.1:%d {
	firefox_sync {
		database sqlite %s
		legacy {
			node node1 {
				reverse_proxy %s
			}
		}
	}
}

http://localhost:%d {
	reverse_proxy %s
}
`, httpPort, b.TempDir(), upstream.Listener.Addr(), httpPort, upstream.Listener.Addr()), "caddyfile")
	defer caddytest.NewTester(b).InitServer(emptyCaddyfile(), "caddyfile")

	const path = "/1.1/7qrzrjz52vgwen6e7w2y7v6xknd46wxt/info/collections"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(b *testing.B, base, host string) {
		req, err := http.NewRequest("GET", base+path, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || n != int64(len(payload)) {
			b.Fatalf("GET %s: %d, %d bytes", base, resp.StatusCode, n)
		}
	}
	caddyURL := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for _, target := range []struct{ name, base, host string }{
		{"direct", upstream.URL, ""},
		// Same address and connections as the shim; the Host picks the site.
		{"caddy-proxy", caddyURL, fmt.Sprintf("localhost:%d", httpPort)},
		{"shim", caddyURL, ""},
	} {
		b.Run("serial/"+target.name, func(b *testing.B) {
			get(b, target.base, target.host)
			b.ReportAllocs()
			for b.Loop() {
				get(b, target.base, target.host)
			}
		})
		b.Run("parallel/"+target.name, func(b *testing.B) {
			get(b, target.base, target.host)
			b.SetParallelism(4)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					get(b, target.base, target.host)
				}
			})
		})
	}
}
