package mysqlstore

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// tcpProxy forwards connections to the real server and can be stopped
// (listener and every open connection closed, like a server that went
// away) and started again on the same address.
type tcpProxy struct {
	target string
	port   *testservices.Port
	addr   string
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	port := testservices.ReservePort(t)
	p := &tcpProxy{target: target, port: port, addr: port.Addr()}
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start(t *testing.T) {
	t.Helper()
	l, err := p.port.Listen()
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestServerGoneAndBack cuts the store off its server: calls fail with
// plain errors (the HTTP layer answers 503), never with a sentinel that
// means something to the protocol, and work again once the server is back,
// without reopening the store.
func TestServerGoneAndBack(t *testing.T) {
	dsn := freshDatabase(t)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Net != "tcp" {
		t.Skipf("the test server is reached over %s, not tcp", cfg.Net)
	}
	p := startProxy(t, cfg.Addr)
	cfg.Addr = p.addr
	cfg.Timeout = time.Second
	logs, observed := observer.New(zap.WarnLevel)
	s := openStore(t, Config{DSN: cfg.FormatDSN(), Logger: zap.New(logs)})
	defer s.Close()

	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	put := func() error {
		_, err := s.PutRecords(ctx, u.ID, "bookmarks", []syncstore.WBO{{ID: "a", Payload: ptr("x")}}, syncstore.WriteOptions{})
		return err
	}
	if err := put(); err != nil {
		t.Fatal(err)
	}

	p.stop()
	sentinels := []error{syncstore.ErrNotFound, syncstore.ErrUserExists, syncstore.ErrModified, syncstore.ErrOverQuota}
	calls := map[string]func() error{
		"PutRecords": put,
		"GetRecord": func() error {
			_, err := s.GetRecord(ctx, u.ID, "bookmarks", "a")
			return err
		},
		"LookupUser": func() error {
			_, err := s.LookupUser(ctx, "alice")
			return err
		},
		"CollectionTimestamps": func() error {
			_, err := s.CollectionTimestamps(ctx, u.ID)
			return err
		},
		"GetRecords of a new collection": func() error {
			_, err := s.GetRecords(ctx, u.ID, "not-cached", &syncstore.Query{})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if err == nil {
			t.Errorf("%s succeeded with the server gone", name)
			continue
		}
		for _, sentinel := range sentinels {
			if errors.Is(err, sentinel) {
				t.Errorf("%s with the server gone: %v, which reads as %v", name, err, sentinel)
			}
		}
	}

	p.start(t)
	for name, call := range calls {
		if err := call(); err != nil {
			t.Errorf("%s after the server came back: %v", name, err)
		}
	}
	w, err := s.GetRecord(ctx, u.ID, "bookmarks", "a")
	if err != nil || w.Payload == nil || *w.Payload != "x" {
		t.Errorf("record after the outage = %+v, %v", w, err)
	}
	// The pool found its idle connections dead; the driver says so through
	// the configured logger, not on standard error.
	if observed.FilterMessage("mysql driver").Len() == 0 {
		t.Errorf("no driver messages reached the zap logger; got %v", observed.All())
	}
}
