package legacytest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// Server is a running FSyncMS stand-in on a loopback port, for tests that
// need an upstream they can take down and bring back.
type Server struct {
	URL    string // http://127.0.0.1:<port>, no trailing slash
	DB     *sql.DB
	DBName string
	Layout Layout // the tables, for Insert and TableDigest

	port    *testservices.Port // held from start to end, for Restart
	addr    string
	handler http.Handler
	delay   atomic.Int64 // nanoseconds each request waits first

	mu       sync.Mutex
	srv      *http.Server
	cancel   context.CancelFunc // ends the delays of requests in flight
	inflight sync.WaitGroup     // requests being answered, awaited by Stop
}

// StartServer creates an FSyncMS database (named leg_ + random, dropped
// when the test ends), serves it with NewServer on a loopback
// listener and stops it when the test ends. Without opts it
// uses ServerOptions{EnableRegister: true}; an empty Root becomes the
// server's own URL.
func StartServer(t TB, opts ...ServerOptions) *Server {
	t.Helper()
	o := ServerOptions{EnableRegister: true}
	if len(opts) > 0 {
		o = opts[0]
	}
	name, db := NewDatabase(t, "leg_", "")
	s := &Server{DB: db, DBName: name, Layout: Layout{Variant: FSyncMS, Prefix: o.Prefix}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := CreateSchema(ctx, db, s.Layout); err != nil {
		t.Fatal(err)
	}
	// A held port: Restart listens on it again, and nothing else may take
	// it while the server is stopped.
	s.port = testservices.ReservePort(t)
	ln, err := s.port.Listen()
	if err != nil {
		t.Fatalf("listening for the legacy server: %v", err)
	}
	s.addr = s.port.Addr()
	s.URL = "http://" + s.addr
	if o.Root == "" {
		o.Root = s.URL + "/"
	}
	legacy := NewServer(db, o)
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.inflight.Add(1)
		defer s.inflight.Done()
		if d := time.Duration(s.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				// Drop the connection rather than answer 200 with nothing.
				panic(http.ErrAbortHandler)
			}
		}
		legacy.ServeHTTP(w, r)
	})
	s.serve(ln)
	// Registered after NewDatabase's cleanup, so it runs before the drop.
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) serve(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s.handler,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 30 * time.Second,
	}
	go srv.Serve(ln)
	s.mu.Lock()
	s.srv, s.cancel = srv, cancel
	s.mu.Unlock()
}

// Stop takes the server down, as a dead upstream: the port refuses
// connections and requests in flight are cut off. It returns once every
// request's handler has returned, and is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, cancel := s.srv, s.cancel
	s.srv, s.cancel = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	cancel()
	// Close shuts the listener and every connection at once, unlike
	// Shutdown, which would let requests in flight finish.
	srv.Close()
	s.inflight.Wait()
}

// Restart serves again on the same port after Stop; the port was held
// meanwhile, so it is free.
func (s *Server) Restart() error {
	s.mu.Lock()
	running := s.srv != nil
	s.mu.Unlock()
	if running {
		return errors.New("legacy server is already running")
	}
	ln, err := s.port.Listen()
	if err != nil {
		return fmt.Errorf("listening again on %s: %w", s.addr, err)
	}
	s.serve(ln)
	return nil
}

// SetDelay makes every request wait d before it is answered (0: none),
// to play a slow upstream. Stop cuts the waits short.
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// ListenAndServe runs the stand-in on addr from the database at dsn until
// ctx ends, creating the FSyncMS tables first if they are missing. An
// empty opts.Root becomes http://<addr>/.
func ListenAndServe(ctx context.Context, addr, dsn string, opts ServerOptions) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("opening legacy database: %w", err)
	}
	defer db.Close()
	if err := ensureSchema(ctx, db, Layout{Variant: FSyncMS, Prefix: opts.Prefix}); err != nil {
		return err
	}
	if opts.Root == "" {
		opts.Root = "http://" + addr + "/"
	}
	srv := &http.Server{Addr: addr, Handler: NewServer(db, opts), ReadHeaderTimeout: 30 * time.Second}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serving legacy FSyncMS on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("stopping legacy FSyncMS on %s: %w", addr, err)
	}
	return nil
}

// ensureSchema creates l's tables unless both exist already.
func ensureSchema(ctx context.Context, db *sql.DB, l Layout) error {
	tables := l.Tables()
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)",
		tables[0], tables[1]).Scan(&n)
	switch {
	case err != nil:
		return fmt.Errorf("looking for the %s tables: %w", l, err)
	case n == len(tables):
		return nil
	case n > 0:
		return fmt.Errorf("database has only some of the %s tables %v", l, tables)
	}
	return CreateSchema(ctx, db, l)
}
