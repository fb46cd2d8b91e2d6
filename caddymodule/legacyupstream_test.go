package caddymodule

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate/legacytest"
)

// legacyUpstream is the FSyncMS stand-in of migrate/legacytest on a
// database of its own (shm_leg_<random> in the test MariaDB) and a
// loopback port, recording every exchange exactly as it saw it. It can be
// stopped, slowed down and restarted like a real upstream.
type legacyUpstream struct {
	t      *testing.T
	URL    string // http://127.0.0.1:<port>
	Addr   string // 127.0.0.1:<port>
	DB     *sql.DB
	DBName string

	handler http.Handler
	delay   atomic.Int64
	// fault, when set, answers every request instead of the stand-in
	// (a misbehaving node); arrived counts every request that reached
	// the upstream, faulty answers included.
	fault   atomic.Pointer[http.HandlerFunc]
	arrived atomic.Int64

	mu        sync.Mutex
	exchanges []exchange
	srv       *httptest.Server
	cancel    context.CancelFunc
}

// exchange is one request as the upstream received it and the answer it
// wrote.
type exchange struct {
	at          time.Time // when the request arrived
	method, uri string
	reqHeader   http.Header
	reqBody     []byte
	status      int
	respHeader  http.Header
	respBody    []byte
}

func startLegacy(t *testing.T) *legacyUpstream {
	t.Helper()
	name, db := legacytest.NewDatabase(t, "shm_leg_", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := legacytest.CreateSchema(ctx, db, legacytest.Layout{Variant: legacytest.FSyncMS}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &legacyUpstream{t: t, DB: db, DBName: name, Addr: ln.Addr().String()}
	u.URL = "http://" + u.Addr
	fsyncms := legacytest.NewServer(db, legacytest.ServerOptions{Root: u.URL + "/", EnableRegister: true})
	u.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		u.arrived.Add(1)
		if f := u.fault.Load(); f != nil {
			(*f)(w, r)
			return
		}
		if d := time.Duration(u.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				panic(http.ErrAbortHandler)
			}
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		// The answer is recorded before any of it leaves: a large body
		// written in one call goes straight to the socket, and a client
		// that has read it all must find the exchange already counted.
		rec := httptest.NewRecorder()
		fsyncms.ServeHTTP(rec, r)
		u.mu.Lock()
		u.exchanges = append(u.exchanges, exchange{
			at: at, method: r.Method, uri: r.RequestURI, reqHeader: r.Header.Clone(), reqBody: body,
			status: rec.Code, respHeader: rec.Header().Clone(), respBody: bytes.Clone(rec.Body.Bytes()),
		})
		u.mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
	u.serve(ln)
	t.Cleanup(u.stop) // before the database drop registered above
	return u
}

func (u *legacyUpstream) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(u.handler)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	u.mu.Lock()
	u.srv, u.cancel = srv, cancel
	u.mu.Unlock()
}

// stop takes the upstream down: its port refuses connections.
func (u *legacyUpstream) stop() {
	u.mu.Lock()
	srv, cancel := u.srv, u.cancel
	u.srv, u.cancel = nil, nil
	u.mu.Unlock()
	if srv == nil {
		return
	}
	cancel()
	srv.CloseClientConnections()
	srv.Close()
}

// restart serves again on the same port.
func (u *legacyUpstream) restart() {
	u.t.Helper()
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", u.Addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		u.t.Fatalf("restarting the legacy upstream: %v", err)
	}
	u.serve(ln)
}

// setDelay makes each request wait d first (a slow upstream).
func (u *legacyUpstream) setDelay(d time.Duration) { u.delay.Store(int64(d)) }

// setFault makes f answer every request (nil: the stand-in again).
func (u *legacyUpstream) setFault(f http.HandlerFunc) {
	if f == nil {
		u.fault.Store(nil)
		return
	}
	u.fault.Store(&f)
}

// count is how many exchanges completed so far.
func (u *legacyUpstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.exchanges)
}

// since returns the exchanges after the first n.
func (u *legacyUpstream) since(n int) []exchange {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]exchange(nil), u.exchanges[n:]...)
}

// direct sends a request to the upstream itself, bypassing the shim.
func (u *legacyUpstream) direct(method, path, body, user, password string) (int, string) {
	u.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, err := http.NewRequest(method, u.URL+path, rd)
	if err != nil {
		u.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		u.t.Fatalf("%s %s directly: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		u.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
