package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// dsnPassword is accepted by the private server (no grant tables) and
// must never appear in a log entry, however the connections fail.
const dsnPassword = "Outage-S3cret-7731"

// loadWorker uploads records as one user and remembers every write the
// server acknowledged with 200.
type loadWorker struct {
	name  string
	acked map[string]string // id → payload
	ok    atomic.Int64      // 200 answers
	busy  atomic.Int64      // 503 answers
	// lastOK is the time of the latest 200, for the recovery check.
	lastOK atomic.Int64
	bad    []string // answers that are neither 200 nor a proper 503
}

// TestMariaDBRestartUnderLoad stops (SIGTERM) and then kills (SIGKILL) a
// private MariaDB server while clients upload through the handler and a
// MySQL store opened once: during each outage the answers are 200 or 503
// with Retry-After and X-Weave-Backoff and nothing else, the same store
// recovers once the server is back, and every write that got a 200 is
// there afterwards.
func TestMariaDBRestartUnderLoad(t *testing.T) {
	m := testservices.StartMariaDB(t)
	m.CreateDatabase("hrd_outage")
	core, logs := observer.New(zapcore.DebugLevel)
	logger := zap.New(core)
	ctx := context.Background()
	store, err := mysqlstore.Open(ctx, mysqlstore.Config{
		DSN:    "root:" + dsnPassword + "@tcp(" + m.Addr() + ")/hrd_outage?timeout=2s&readTimeout=5s&writeTimeout=5s",
		Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{Store: store, Auth: auth, Logger: logger, RetryAfter: 120 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	const workers = 6
	var ws []*loadWorker
	for i := range workers {
		w := &loadWorker{name: fmt.Sprintf("worker%d", i), acked: map[string]string{}}
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
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.run(srv.URL, stop)
		}()
	}

	time.Sleep(time.Second)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		before := totals(ws)
		m.Signal(sig)
		down := time.Now()
		time.Sleep(1500 * time.Millisecond)
		during := totals(ws)
		m.Start()
		up := time.Now()
		restarted := totals(ws)
		// Recovery: every worker gets a 200 again with the same store.
		deadline := up.Add(20 * time.Second)
		for _, w := range ws {
			for time.Unix(0, w.lastOK.Load()).Before(up) {
				if time.Now().After(deadline) {
					t.Fatalf("%v: %s got no 200 within 20 s of the server's return", sig, w.name)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		recovered := time.Since(up)
		time.Sleep(time.Second)
		after := totals(ws)
		t.Logf("%v: before %d ok/%d 503; down %.1fs: +%d ok/+%d 503 (+%d ok/+%d 503 while restarting); all workers back %d ms after the server; in the next second +%d ok/+%d 503",
			sig, before.ok, before.busy, up.Sub(down).Seconds(), during.ok-before.ok, during.busy-before.busy,
			restarted.ok-during.ok, restarted.busy-during.busy, recovered.Milliseconds(), after.ok-restarted.ok, after.busy-restarted.busy)
		if during.busy == before.busy {
			t.Errorf("%v: no 503 while the server was down", sig)
		}
	}
	close(stop)
	wg.Wait()

	acked, lost := 0, 0
	for _, w := range ws {
		for _, b := range w.bad {
			t.Errorf("%s: %s", w.name, b)
		}
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
			acked++
			if stored[id] != payload {
				lost++
				t.Errorf("%s: acknowledged record %s is %q after the restarts, want %q", w.name, id, stored[id], payload)
			}
		}
	}
	t.Logf("%d acknowledged records checked, %d lost", acked, lost)
	for _, e := range logs.All() {
		text := e.Message + fmt.Sprint(e.ContextMap())
		if strings.Contains(text, dsnPassword) {
			t.Errorf("log entry shows the DSN password: %s", text)
		}
	}
}

type counts struct{ ok, busy int64 }

func totals(ws []*loadWorker) counts {
	var c counts
	for _, w := range ws {
		c.ok += w.ok.Load()
		c.busy += w.busy.Load()
	}
	return c
}

// run uploads until stop: single PUTs and 5-record batch POSTs, each
// record with a distinct id and payload, and an info/collections read
// every fifth request.
func (w *loadWorker) run(base string, stop <-chan struct{}) {
	client := &http.Client{Timeout: 15 * time.Second}
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return
		default:
		}
		var (
			req  *http.Request
			recs = map[string]string{}
		)
		switch {
		case seq%5 == 4:
			// A read now and then: it must fail the same way.
			req, _ = http.NewRequest(http.MethodGet, base+"/1.1/"+w.name+"/info/collections", nil)
		case seq%2 == 0:
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
		resp, err := client.Do(req)
		if err != nil {
			w.bad = append(w.bad, fmt.Sprintf("%s %s: %v", req.Method, req.URL.Path, err))
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
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
			w.ok.Add(1)
			w.lastOK.Store(time.Now().UnixNano())
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") != "120" || resp.Header.Get("X-Weave-Backoff") != "120" {
				w.bad = append(w.bad, fmt.Sprintf("%s: 503 without back-off headers: %v", req.Method, resp.Header))
			}
			w.busy.Add(1)
			time.Sleep(20 * time.Millisecond) // a client would wait far longer
		default:
			w.bad = append(w.bad, fmt.Sprintf("%s %s: %d %q", req.Method, req.URL.Path, resp.StatusCode, body))
		}
	}
}
