package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Target is a server under test, named for the report.
type Target struct {
	Name string
	// URL is the server's root, ending in "/": the User API lives under
	// URL+"user/1.0/" and storage under URL+"1.1/". The node URL that
	// node/weave answers is checked but never followed, so load only goes
	// where the operator pointed it.
	URL *url.URL
	// Legacy declares a legacy PHP server, or the shim in front of one:
	// the answers' documented legacy quirks (docs/legacy.md §4) are counted as
	// information instead of errors.
	Legacy bool
}

// ParseTarget reads "name=URL".
func ParseTarget(s string) (Target, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" || raw == "" {
		return Target{}, fmt.Errorf("target %q: want name=URL, e.g. sqlite=http://127.0.0.1:5000/", s)
	}
	if !validName(name) {
		return Target{}, fmt.Errorf("target %q: name may hold only a-z, 0-9, '-' and '_'", s)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Target{}, fmt.Errorf("target %q: URL must be http:// or https:// with a host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Target{}, fmt.Errorf("target %q: URL must not carry credentials, a query or a fragment", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return Target{Name: name, URL: u}, nil
}

func validName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// errNotLoopback refuses load on anything but this machine.
var errNotLoopback = errors.New("not a loopback address (use --allow-remote to send load to another machine on purpose)")

// checkLoopback resolves the target's host and refuses it unless every
// address is loopback. The dialer checks again at connect time, so a
// changing DNS answer cannot redirect the load.
func checkLoopback(ctx context.Context, t Target) error {
	host := t.URL.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %s (%s): %w", t.Name, host, errNotLoopback)
		}
		return nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return fmt.Errorf("target %s: resolving %s: %w", t.Name, host, err)
	}
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return fmt.Errorf("target %s (%s resolves to %s): %w", t.Name, host, a.IP, errNotLoopback)
		}
	}
	return nil
}

// loopbackOnly is a net.Dialer Control function that refuses to connect
// to a non-loopback address.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("connecting to %s: %w", host, errNotLoopback)
	}
	return nil
}

// newHTTPClient returns the client for one target: a connection per
// worker kept alive, no redirects followed (a Sync server never redirects;
// following one could leave loopback), and, unless allowRemote, a dialer
// that only reaches loopback.
func newHTTPClient(conns int, timeout time.Duration, allowRemote bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowRemote {
		d.Control = loopbackOnly
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
