package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestConcurrentDevices has several devices of one user upload at once:
// every POST succeeds, each gets its own timestamp, and nothing is lost.
func TestConcurrentDevices(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		const devices, rounds = 4, 5
		stamps := make(chan string, devices*rounds)
		var wg sync.WaitGroup
		for d := range devices {
			wg.Go(func() {
				for r := range rounds {
					body := records(fmt.Sprintf("d%d-r%d-", d, r), 10, 50)
					req := httptest.NewRequest(http.MethodPost, c.url("storage/history"), strings.NewReader(body))
					req.SetBasicAuth(c.name, c.password)
					w := httptest.NewRecorder()
					e.h.ServeHTTP(w, req)
					var res struct {
						Modified json.Number `json:"modified"`
						Success  []string    `json:"success"`
					}
					if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &res) != nil || len(res.Success) != 10 {
						t.Errorf("device %d round %d: %d %s", d, r, w.Code, w.Body.String())
						return
					}
					if res.Modified.String() != w.Header().Get("X-Weave-Timestamp") {
						t.Errorf("body modified %s, header %s", res.Modified, w.Header().Get("X-Weave-Timestamp"))
					}
					stamps <- res.Modified.String()
				}
			})
		}
		wg.Wait()
		close(stamps)
		seen := map[string]bool{}
		for s := range stamps {
			if seen[s] {
				t.Errorf("two uploads got timestamp %s", s)
			}
			seen[s] = true
		}
		c.get("info/collection_counts").expect(http.StatusOK, fmt.Sprintf(`{"history":%d}`, devices*rounds*10))
	})
}
