package caddymodule

import (
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// Ports of the in-process Caddy that caddytest starts once per test
// binary. They are picked free at start so that this package's tests can
// run while other Caddy instances (or another package's tests) listen.
var (
	adminPort int
	httpPort  int
	httpsPort int
	// storageDir holds what Caddy stores (its local CA), instead of the
	// user's data directory.
	storageDir string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "caddymodule-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	storageDir = tmp

	ports, err := freePorts(3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	adminPort, httpPort, httpsPort = ports[0], ports[1], ports[2]
	caddytest.Default.AdminPort = adminPort
	return m.Run()
}

// freePorts asks the kernel for n distinct free TCP ports.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
