package faults

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// freezeHangBound is how long past the store deadline a request may take
// to be answered while the server is frozen, on a loaded 2-core machine.
// It is a hang bound, not a speed target: without the deadline requests
// wait for the driver's 30 s I/O timeout, and longer in the pool queue.
const freezeHangBound = 5 * time.Second

// TestMariaDBFrozenFailsAtDeadline freezes a private MariaDB with SIGSTOP
// (a hung disk or a lock storm looks the same from the client) while
// clients upload and read through the protocol handler over a MySQL store
// with a per-call deadline and fewer pool connections than clients, so
// some requests wait for a connection and others on a statement. Every
// request gets an answer within the deadline plus a margin, 200 or 503
// with Retry-After and X-Weave-Backoff; after SIGCONT the same store
// serves every client again without a 503 (no connection of the pool is
// left broken), and every acknowledged write is stored.
func TestMariaDBFrozenFailsAtDeadline(t *testing.T) {
	m := testservices.StartMariaDB(t)
	m.CreateDatabase("hrd_freeze")
	ctx := context.Background()
	const timeout = 2 * time.Second
	// As the server sets them from db_timeout: COMMIT takes no context in
	// database/sql, so only the driver's I/O timeout bounds a commit the
	// frozen server never answers.
	inner, err := mysqlstore.Open(ctx, mysqlstore.Config{
		DSN:          "root@tcp(" + m.Addr() + ")/hrd_freeze?readTimeout=2s&writeTimeout=2s",
		MaxOpenConns: 3,
		Logger:       zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	store := deadline.Wrap(inner, timeout)
	defer store.Close()
	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{Store: store, Auth: auth, Logger: zap.NewNop(), RetryAfter: 120 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	const workers = 8 // > MaxOpenConns: some requests queue for a connection
	var ws []*freezeWorker
	for i := range workers {
		w := &freezeWorker{name: fmt.Sprintf("frozen%d", i), acked: map[string]string{}}
		hash, err := auth.HashPassword("password-" + w.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.CreateUser(ctx, &syncstore.User{Name: w.name, PasswordHash: hash}); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(srv.URL, stop) })
	}

	time.Sleep(time.Second)
	m.Freeze()
	frozen := time.Now()
	t.Cleanup(func() { m.SendSignal(syscall.SIGCONT) }) // before the kill of StartMariaDB
	time.Sleep(4 * timeout)
	m.SendSignal(syscall.SIGCONT)
	thawed := time.Now()

	// Recovery: every worker gets a 200 again from the same store.
	limit := thawed.Add(30 * time.Second)
	for _, w := range ws {
		for w.lastOKAfter().Before(thawed) {
			if time.Now().After(limit) {
				t.Fatalf("%s got no 200 within 30 s of SIGCONT", w.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	recovered := time.Since(thawed)
	// Then a stretch with every request answered 200: a pool connection
	// broken by the freeze would fail one.
	settled := time.Now()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	var (
		frozenOK, frozen503, after503, afterOK int
		slowest, slowest503                    time.Duration
	)
	for _, w := range ws {
		for _, b := range w.bad {
			t.Errorf("%s: %s", w.name, b)
		}
		for _, a := range w.answers {
			// Waiting is counted from the freeze for requests sent before it.
			waited := a.end.Sub(later(a.start, frozen))
			if a.end.After(frozen) && a.start.Before(thawed) {
				if a.status == http.StatusServiceUnavailable {
					frozen503++
					slowest503 = max(slowest503, waited)
				} else {
					frozenOK++
				}
				slowest = max(slowest, waited)
				if waited > timeout+freezeHangBound {
					t.Errorf("%s: %s sent %s after the freeze answered %d only %s later (deadline %s)",
						w.name, a.method, a.start.Sub(frozen).Round(time.Millisecond), a.status, waited.Round(time.Millisecond), timeout)
				}
			}
			if a.start.After(settled) {
				if a.status == http.StatusOK {
					afterOK++
				} else {
					after503++
				}
			}
		}
	}
	t.Logf("frozen %.1fs with deadline %s: %d answered 503, %d answered 200 (sent before the freeze or after SIGCONT); slowest answer %s after the freeze (slowest 503 %s)",
		thawed.Sub(frozen).Seconds(), timeout, frozen503, frozenOK, slowest.Round(time.Millisecond), slowest503.Round(time.Millisecond))
	t.Logf("after SIGCONT: every worker had a 200 again within %s; in the next 2 s %d answered 200, %d answered 503",
		recovered.Round(time.Millisecond), afterOK, after503)
	if pool, ok := syncstore.Store(inner).(interface{ DB() *sql.DB }); ok {
		st := pool.DB().Stats()
		t.Logf("pool: %d open (max %d), %d waits for a connection, %d closed at max lifetime",
			st.OpenConnections, st.MaxOpenConnections, st.WaitCount, st.MaxLifetimeClosed)
	}
	if frozen503 == 0 {
		t.Error("no 503 while the server was frozen")
	}
	if after503 > 0 || afterOK == 0 {
		t.Errorf("after recovery: %d answered 200 and %d answered 503, want only 200s", afterOK, after503)
	}

	for _, w := range ws {
		u, err := store.LookupUser(ctx, w.name)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := store.GetRecords(ctx, u.ID, "history", &syncstore.Query{})
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]string{}
		for _, r := range recs {
			stored[r.ID] = *r.Payload
		}
		for id, payload := range w.acked {
			if stored[id] != payload {
				t.Errorf("%s: acknowledged record %s is %q after the freeze, want %q", w.name, id, stored[id], payload)
			}
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// freezeWorker uploads and reads as one user and keeps every answer's
// status and timing.
type freezeWorker struct {
	name    string
	acked   map[string]string // id → payload of writes answered 200
	mu      sync.Mutex
	lastOK  time.Time
	answers []answer
	bad     []string // answers that are neither 200 nor a proper 503
}

type answer struct {
	method     string
	status     int
	start, end time.Time
}

func (w *freezeWorker) lastOKAfter() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastOK
}

// run alternates single PUTs, 5-record POSTs and info/collections reads
// until stop.
func (w *freezeWorker) run(base string, stop <-chan struct{}) {
	// Far beyond the bound the test checks, so a hang shows as a slow
	// answer rather than a client error.
	client := &http.Client{Timeout: 120 * time.Second}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		recs := map[string]string{}
		var req *http.Request
		switch seq % 3 {
		case 0:
			req, _ = http.NewRequest(http.MethodGet, base+"/1.1/"+w.name+"/info/collections", nil)
		case 1:
			id := fmt.Sprintf("s%d", seq)
			recs[id] = fmt.Sprintf("%s-%d", w.name, seq)
			body, _ := json.Marshal(map[string]string{"payload": recs[id]})
			req, _ = http.NewRequest(http.MethodPut, base+"/1.1/"+w.name+"/storage/history/"+id, strings.NewReader(string(body)))
		default:
			var batch []map[string]string
			for k := range 5 {
				id := fmt.Sprintf("b%d-%d", seq, k)
				recs[id] = fmt.Sprintf("%s-%d-%d", w.name, seq, k)
				batch = append(batch, map[string]string{"id": id, "payload": recs[id]})
			}
			body, _ := json.Marshal(batch)
			req, _ = http.NewRequest(http.MethodPost, base+"/1.1/"+w.name+"/storage/history", strings.NewReader(string(body)))
		}
		req.SetBasicAuth(w.name, "password-"+w.name)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		a := answer{method: req.Method, status: resp.StatusCode, start: start, end: time.Now()}
		switch resp.StatusCode {
		case http.StatusOK:
			if req.Method == http.MethodPost {
				var res struct {
					Success []string
					Failed  map[string][]string
				}
				if err := json.Unmarshal(body, &res); err != nil || len(res.Success) != len(recs) || len(res.Failed) != 0 {
					w.bad = append(w.bad, fmt.Sprintf("POST: 200 %q", body))
					continue
				}
			}
			for id, p := range recs {
				w.acked[id] = p
			}
			w.mu.Lock()
			w.lastOK = a.end
			w.mu.Unlock()
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") != "120" || resp.Header.Get("X-Weave-Backoff") != "120" {
				w.bad = append(w.bad, fmt.Sprintf("%s: 503 without back-off headers: %v", req.Method, resp.Header))
			}
			time.Sleep(20 * time.Millisecond) // a client would wait far longer
		default:
			w.bad = append(w.bad, fmt.Sprintf("%s %s: %d %q", req.Method, req.URL.Path, resp.StatusCode, body))
		}
		w.answers = append(w.answers, a)
	}
}
