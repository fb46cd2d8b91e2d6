package testservices

import (
	"io"
	"net"
	"testing"
)

// TestPortHeld: while a Port is held, bind to port 0 never returns it,
// outgoing connections never use it as their local port, a server can
// bind it, stop, and bind it again, and it refuses connections while
// nobody listens.
func TestPortHeld(t *testing.T) {
	p := ReservePort(t)

	// A target for outgoing connections.
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2000 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		if l.Addr().(*net.TCPAddr).Port == p.Number() {
			t.Fatalf("bind to port 0 returned the held port %d", p.Number())
		}
		c, err := net.Dial("tcp", target.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if c.LocalAddr().(*net.TCPAddr).Port == p.Number() {
			t.Fatalf("an outgoing connection took the held port %d", p.Number())
		}
	}

	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.Close()
		t.Fatal("the held port accepted a connection with no server listening")
	}
	for range 3 {
		l, err := p.Listen()
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatalf("dialling the server on the held port: %v", err)
		}
		s, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		c.Close()
		l.Close()
	}
	if _, err := net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
}

// TestListeners counts a listener on a held port, and forgets it once it
// is closed.
func TestListeners(t *testing.T) {
	p := ReservePort(t)
	count := func() int {
		t.Helper()
		n, err := Listeners(p.Number())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("held port, nobody listening: %d listeners", n)
	}
	l, err := p.Listen()
	if err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Errorf("one server: %d listeners", n)
	}
	l.Close()
	if n := count(); n != 0 {
		t.Errorf("server closed: %d listeners", n)
	}
}
