package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localEnv is what the test sets for Caddyfile.local: its own listener as
// fd 3 (bound on a free port before the server starts, so no other process
// can take the port in between), that listener's port for the site address
// and public_url, and the admin endpoint on a unix socket so that it binds
// no TCP port either.
func localEnv(dir string, port int) []string {
	return []string{
		"SYNCSERVER_BIND=fd/3",
		"SYNCSERVER_HTTPS_PORT=" + strconv.Itoa(port),
		"SYNCSERVER_ADMIN=unix/" + filepath.Join(dir, "admin.sock"),
	}
}

// TestCaddyfileLocal runs the repository's Caddyfile.local as the README
// tells an operator to: it must adapt to a config that installs no CA
// into the system trust store and has no HTTP (port 80) server, serve
// Sync over HTTPS with a certificate from Caddy's local CA that a client
// trusting only that CA accepts, and listen on nothing but its one port.
func TestCaddyfileLocal(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "Caddyfile.local"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Caddyfile.local"), src, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	env := localEnv(dir, port)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// The adapted config: what the comments in Caddyfile.local promise.
	adapt, out := syncserver(ctx, dir, "adapt", "--config", "Caddyfile.local")
	adapt.Env = append(adapt.Env, env...)
	var stderr bytes.Buffer
	adapt.Stdout, adapt.Stderr = out, &stderr
	if err := adapt.Run(); err != nil {
		t.Fatalf("syncserver adapt --config Caddyfile.local: %v\n%s", err, &stderr)
	}
	checkLocalConfig(t, out.Bytes(), port)

	// Run it with the listener handed over as fd 3.
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	run, logs := syncserver(ctx, dir, "run", "--config", "Caddyfile.local")
	run.Env = append(run.Env, env...)
	run.ExtraFiles = []*os.File{lf}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	defer func() {
		if run.ProcessState == nil {
			_ = run.Process.Kill()
			<-exited
		}
	}()

	base := fmt.Sprintf("https://localhost:%d", port)
	client := waitForLocalCA(t, dir, port, base, exited, logs)

	if runtime.GOOS == "linux" {
		ports, err := listeningPorts(run.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ports, []string{"tcp:" + strconv.Itoa(port)}) {
			t.Errorf("the server listens on %v, want only tcp:%d (no port 80, no HTTP/3)", ports, port)
		}
	}

	// Registration is closed, as in production: the operator adds users.
	const email, password, user = "alice@example.com", "correct horse battery", "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	add, addOut := syncserver(ctx, dir, "users", "add", "--db", "sqlite", "--password-stdin", "--bcrypt-cost", "4", email)
	add.Stdin = strings.NewReader(password + "\n")
	if err := add.Run(); err != nil {
		t.Fatalf("syncserver users add next to the running server: %v\n%s", err, addOut)
	}

	do := func(method, path, body string) (int, http.Header, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, password)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.TLS == nil {
			t.Fatalf("%s %s answered without TLS", method, path)
		}
		return resp.StatusCode, resp.Header, string(b)
	}
	if status, _, body := do("PUT", "/user/1.0/"+user, `{"email":"bob@example.com","password":"another good one"}`); status != 400 || body != "3" {
		t.Errorf("registration on the local setup: %d %q, want 400 body 3 (closed)", status, body)
	}
	if status, _, body := do("GET", "/user/1.0/"+user+"/node/weave", ""); status != 200 || body != base+"/" {
		t.Errorf("node/weave: %d %q, want %q", status, body, base+"/")
	}
	const record = `{"payload":"{\"syncID\":\"abcdefghijkl\",\"storageVersion\":5}"}`
	status, hdr, ts := do("PUT", "/1.1/"+user+"/storage/meta/global", record)
	if status != 200 || ts != hdr.Get("X-Weave-Timestamp") {
		t.Fatalf("PUT meta/global over HTTPS: %d %q (X-Weave-Timestamp %q)", status, ts, hdr.Get("X-Weave-Timestamp"))
	}
	status, _, body := do("GET", "/1.1/"+user+"/info/collections", "")
	var stamps map[string]json.Number
	if status != 200 || json.Unmarshal([]byte(body), &stamps) != nil || stamps["meta"].String() != ts {
		t.Errorf("info/collections: %d %q, want meta at %s", status, body, ts)
	}

	if err := run.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the server did not stop on SIGINT\n%s", logs)
	}
}

// checkLocalConfig checks the JSON Caddyfile.local adapts to: the local
// CA's root stays out of the trust stores, the one server listens on the
// test's listener only and redirects nothing (so nothing binds port 80),
// and the site's certificate comes from the internal issuer.
func checkLocalConfig(t *testing.T, raw []byte, port int) {
	t.Helper()
	var cfg struct {
		Apps struct {
			PKI struct {
				CertificateAuthorities map[string]struct {
					InstallTrust *bool `json:"install_trust"`
				} `json:"certificate_authorities"`
			} `json:"pki"`
			HTTP struct {
				HTTPPort  int `json:"http_port"`
				HTTPSPort int `json:"https_port"`
				Servers   map[string]struct {
					Listen         []string `json:"listen"`
					AutomaticHTTPS struct {
						DisableRedirects bool `json:"disable_redirects"`
					} `json:"automatic_https"`
				} `json:"servers"`
			} `json:"http"`
			TLS struct {
				Automation struct {
					Policies []struct {
						Issuers []struct {
							Module string `json:"module"`
						} `json:"issuers"`
					} `json:"policies"`
				} `json:"automation"`
			} `json:"tls"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("adapted config: %v\n%s", err, raw)
	}
	local, ok := cfg.Apps.PKI.CertificateAuthorities["local"]
	if !ok || local.InstallTrust == nil || *local.InstallTrust {
		t.Errorf("the local CA may be installed into the system trust store (skip_install_trust missing):\n%s", raw)
	}
	if cfg.Apps.HTTP.HTTPPort == 80 || cfg.Apps.HTTP.HTTPPort == 0 {
		t.Errorf("http_port is %d: plain HTTP would use port 80", cfg.Apps.HTTP.HTTPPort)
	}
	if cfg.Apps.HTTP.HTTPSPort != port {
		t.Errorf("https_port %d, want the test's %d", cfg.Apps.HTTP.HTTPSPort, port)
	}
	if len(cfg.Apps.HTTP.Servers) != 1 {
		t.Errorf("%d servers, want the HTTPS one only:\n%s", len(cfg.Apps.HTTP.Servers), raw)
	}
	for name, srv := range cfg.Apps.HTTP.Servers {
		if !slices.Equal(srv.Listen, []string{"fd/3"}) {
			t.Errorf("server %s listens on %q, want the handed-over fd/3 only", name, srv.Listen)
		}
		if !srv.AutomaticHTTPS.DisableRedirects {
			t.Errorf("server %s: HTTP->HTTPS redirects are on, which binds port 80", name)
		}
	}
	internal := false
	for _, p := range cfg.Apps.TLS.Automation.Policies {
		for _, iss := range p.Issuers {
			internal = internal || iss.Module == "internal"
		}
	}
	if !internal {
		t.Errorf("no automation policy with the internal issuer (tls internal):\n%s", raw)
	}
}

// waitForLocalCA waits for Caddy's local CA root (written under
// ./data/caddy on start) and for the site's certificate, and returns a
// client that trusts that root only and dials the test's listener for
// localhost.
func waitForLocalCA(t *testing.T, dir string, port int, base string, exited <-chan error, logs fmt.Stringer) *http.Client {
	t.Helper()
	rootPath := filepath.Join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var lastErr error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			t.Fatalf("the server exited: %v\n%s", err, logs)
		case <-time.After(100 * time.Millisecond):
		}
		pem, err := os.ReadFile(rootPath)
		if err != nil {
			lastErr = err
			continue
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			lastErr = fmt.Errorf("no certificate in %s yet", rootPath)
			continue
		}
		dialer := &net.Dialer{Timeout: 5 * time.Second}
		client := &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return dialer.DialContext(ctx, network, addr)
				},
			},
		}
		resp, err := client.Get(base + "/__heartbeat__")
		if err != nil {
			// Until the certificate is issued, handshakes fail.
			lastErr = err
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("heartbeat over HTTPS: %d", resp.StatusCode)
		}
		return client
	}
	t.Fatalf("no HTTPS answer with a certificate from the local CA within 30s: %v\n%s", lastErr, logs)
	return nil
}

// listeningPorts lists the TCP sockets in LISTEN state and the UDP
// sockets the process holds, as "tcp:<port>" and "udp:<port>", sorted.
func listeningPorts(pid int) ([]string, error) {
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var ports []string
	for _, table := range []struct{ file, proto string }{
		{"tcp", "tcp"}, {"tcp6", "tcp"}, {"udp", "udp"}, {"udp6", "udp"},
	} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table.file))
		if os.IsNotExist(err) {
			continue // no IPv6 on this machine
		}
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			if table.proto == "tcp" && fields[3] != "0A" {
				continue // not listening (an accepted or outgoing connection)
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			p, err := strconv.ParseUint(hexPort, 16, 16)
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("parsing %s: %w", table.file, err)
			}
			ports = append(ports, table.proto+":"+strconv.FormatUint(p, 10))
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports), nil
}
