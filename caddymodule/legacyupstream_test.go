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
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// legacyUpstream is the FSyncMS stand-in of migrate/legacytest on a
// database of its own (shm_leg_<random> in the test MariaDB) and a
// loopback port, recording every exchange exactly as it saw it. It can be
// stopped, slowed down and restarted like a real upstream.
type legacyUpstream struct {
	t      *testing.T
	URL    string // http://127.0.0.1:<port>
	Addr   string // 127.0.0.1:<port>
	port   *testservices.Port
	DB     *sql.DB
	DBName string

	handler http.Handler
	delay   atomic.Int64

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
	// A held port, so that restart can listen on it again without
	// racing other sockets for it.
	port := testservices.ReservePort(t)
	ln, err := port.Listen()
	if err != nil {
		t.Fatal(err)
	}
	u := &legacyUpstream{t: t, DB: db, DBName: name, port: port, Addr: port.Addr()}
	u.URL = "http://" + u.Addr
	fsyncms := legacytest.NewServer(db, legacytest.ServerOptions{Root: u.URL + "/", EnableRegister: true})
	u.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
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
		tee := &teeWriter{ResponseWriter: w}
		fsyncms.ServeHTTP(tee, r)
		// Recorded before the answer leaves: a test that got the answer
		// must find the exchange (a large body written in one piece goes
		// straight to the socket, before the handler returns).
		u.mu.Lock()
		u.exchanges = append(u.exchanges, exchange{
			at: at, method: r.Method, uri: r.RequestURI, reqHeader: r.Header.Clone(), reqBody: body,
			status: tee.statusCode(), respHeader: w.Header().Clone(), respBody: tee.body.Bytes(),
		})
		u.mu.Unlock()
		tee.send()
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
	ln, err := u.port.Listen()
	if err != nil {
		u.t.Fatalf("restarting the legacy upstream: %v", err)
	}
	u.serve(ln)
}

// setDelay makes each request wait d first (a slow upstream).
func (u *legacyUpstream) setDelay(d time.Duration) { u.delay.Store(int64(d)) }

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

// teeWriter holds what a handler writes until send.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// send writes the held answer.
func (w *teeWriter) send() {
	w.ResponseWriter.WriteHeader(w.statusCode())
	_, _ = w.ResponseWriter.Write(w.body.Bytes())
}

func (w *teeWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
