package caddymodule

import (
	"fmt"
	"os"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// Ports of the in-process Caddy that caddytest starts once per test
// binary. They are held free from start to end so that this package's
// tests can run while other Caddy instances (or another package's tests)
// listen and connect.
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

	// The ports stay held for the whole test binary: Caddy binds and
	// releases them at every config load, and nothing else may take them
	// in between (see testservices.Port).
	var ports [3]int
	for i := range ports {
		p, err := testservices.NewPort()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer p.Release()
		ports[i] = p.Number()
	}
	adminPort, httpPort, httpsPort = ports[0], ports[1], ports[2]
	caddytest.Default.AdminPort = adminPort
	return m.Run()
}
