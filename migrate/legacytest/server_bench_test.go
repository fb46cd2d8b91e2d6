package legacytest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkServer is the stand-in's own throughput (md5 auth, real
// MariaDB), the baseline a proxy in front of it is measured against.
func BenchmarkServer(b *testing.B) {
	srv := StartServer(b)
	do := func(b *testing.B, method, path, body string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.SetBasicAuth("bench", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %s", method, path, resp.Status)
		}
	}
	do(b, "PUT", "/user/1.0/bench", `{"password":"pw","email":"b@example.com"}`)
	var recs []string
	for i := range 100 {
		recs = append(recs, fmt.Sprintf(`{"id":"r%03d","sortindex":%d,"payload":"{\"ciphertext\":\"%s\"}"}`, i, i, strings.Repeat("c", 300)))
	}
	batch := "[" + strings.Join(recs, ",") + "]"

	b.Run("post_100", func(b *testing.B) {
		for b.Loop() {
			do(b, "POST", "/1.1/bench/storage/history", batch)
		}
	})
	b.Run("info_collections", func(b *testing.B) {
		for b.Loop() {
			do(b, "GET", "/1.1/bench/info/collections", "")
		}
	})
	b.Run("get_full_100", func(b *testing.B) {
		for b.Loop() {
			do(b, "GET", "/1.1/bench/storage/history?full=1", "")
		}
	})
}
