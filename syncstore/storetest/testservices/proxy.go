//go:build unix

package testservices

import (
	"net"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Proxy stands between a client and a server on a held port, so that a
// test can fail the server for one client without touching the server:
// stopped, it is a server that went away (listener and every connection
// closed, new ones refused); frozen, one that hangs (connections
// accepted, nothing forwarded either way), as a SIGSTOPped mariadbd looks
// from its clients. Started or thawed again it serves on the same address.
type Proxy struct {
	t      TB
	target string
	port   *Port
	mu     sync.Mutex
	l      net.Listener
	conns  []net.Conn
	thawed chan struct{} // closed while not frozen
}

// StartProxy forwards a held port to target until the test ends.
func StartProxy(t TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{t: t, target: target, port: ReservePort(t), thawed: make(chan struct{})}
	close(p.thawed)
	p.Start()
	t.Cleanup(func() {
		p.Thaw()
		p.Stop()
	})
	return p
}

// MySQLViaProxy is dsn reaching its server through a new Proxy, with a
// one-second dial timeout so that a stopped proxy fails connections fast.
// The server must be reached over TCP.
func MySQLViaProxy(t TB, dsn string) (string, *Proxy) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Net != "tcp" {
		t.Fatalf("a proxy needs the test server reached over tcp, not %s (SYNCSERVER_TEST_MYSQL)", cfg.Net)
	}
	p := StartProxy(t, cfg.Addr)
	cfg.Addr = p.Addr()
	cfg.Timeout = time.Second
	return cfg.FormatDSN(), p
}

// Addr is the proxy's address, 127.0.0.1:<port>.
func (p *Proxy) Addr() string { return p.port.Addr() }

// Start listens again after Stop.
func (p *Proxy) Start() {
	p.t.Helper()
	l, err := p.port.Listen()
	if err != nil {
		p.t.Fatalf("proxy listen: %v", err)
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
			p.wait()
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}()
}

// pipe copies src to dst, holding every chunk while the proxy is frozen.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF or a closed connection: the other side goes too
		}
	}
}

func (p *Proxy) wait() {
	p.mu.Lock()
	ch := p.thawed
	p.mu.Unlock()
	<-ch
}

// Stop closes the listener and every connection: the server went away.
func (p *Proxy) Stop() {
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

// Freeze holds every byte from now on, in both directions, and new
// connections before they reach the server.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // already frozen
	}
}

// Thaw lets everything held through.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}
