//go:build unix

package testservices

import (
	"fmt"
	"net"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// A Port is a TCP port held for one test (or one test binary) so that a
// server can bind it, stop, and bind it again, while no other socket on the
// machine can take it in between.
//
// Picking a free port by listening on :0 and closing the listener again
// is a race: the kernel hands the same ephemeral ports to outgoing
// connections (a parallel package's connection to MariaDB, say), and the
// server's later bind fails with "address already in use". A Port instead
// keeps a socket bound to the port, with SO_REUSEADDR and SO_REUSEPORT,
// that never listens. On Linux (where CI runs; the BSDs' rules differ):
//   - connect() never picks a port that has a bound socket as its local
//     port, and bind to port 0 never returns it;
//   - a server socket with SO_REUSEADDR (every Go listener, Caddy,
//     memcached, mariadbd) may still bind it, because the holding socket
//     is not listening; Caddy's SO_REUSEPORT listeners may too;
//   - connections only ever reach a listening socket, so while no server
//     listens the port refuses connections, like a stopped server's.
type Port struct {
	fd   int
	port int
}

// ReservePort holds a free loopback port until the test ends.
func ReservePort(t TB) *Port {
	t.Helper()
	p, err := NewPort()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Release)
	return p
}

// NewPort holds a free port until Release; for a TestMain, which has no
// TB to tie it to.
func NewPort() (*Port, error) {
	// Not inherited by the servers the tests start (as net.Listen does).
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("reserving a port: socket: %w", err)
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, opt, 1); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("reserving a port: setsockopt: %w", err)
		}
	}
	// The wildcard address, so that the port is held for every local
	// address a server may bind (Caddy binds all of them).
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("reserving a port: bind: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("reserving a port: getsockname: %w", err)
	}
	return &Port{fd: fd, port: sa.(*syscall.SockaddrInet4).Port}, nil
}

// Number is the port number.
func (p *Port) Number() int { return p.port }

// Addr is 127.0.0.1:<port>.
func (p *Port) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Listen listens on 127.0.0.1:<port>; it can be called again after the
// listener is closed (to restart a server on the same port).
func (p *Port) Listen() (net.Listener, error) {
	l, err := net.Listen("tcp", p.Addr())
	if err != nil {
		return nil, fmt.Errorf("listening on reserved port %d: %w", p.port, err)
	}
	return l, nil
}

// Release lets the port go; servers still listening on it keep it.
func (p *Port) Release() {
	if p.fd >= 0 {
		syscall.Close(p.fd)
		p.fd = -1
	}
}
