package testservices

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Listeners counts the TCP sockets of this network namespace that listen
// on port, from /proc/net/tcp and /proc/net/tcp6.
//
// A test that reloads Caddy needs it: Caddy opens the new config's
// listener (SO_REUSEPORT) before the old config's server closes its own,
// and while both listen the kernel spreads new connections over the two.
// One that lands on the old server is reset when its listener closes, or
// accepted and closed without an answer (net/http drops a request it
// reads after Shutdown began). Once a single listener is left, every new
// connection reaches the new config.
func Listeners(port int) (int, error) {
	n := 0
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(name)
		if os.IsNotExist(err) {
			continue // no IPv6
		}
		if err != nil {
			return 0, fmt.Errorf("counting listeners: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st ...; the address is hex
			// IP:port and state 0A is LISTEN.
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(fields[1], ':')
			p, err := strconv.ParseUint(fields[1][i+1:], 16, 16)
			if err == nil && int(p) == port {
				n++
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("counting listeners: reading %s: %w", name, err)
		}
	}
	return n, nil
}
