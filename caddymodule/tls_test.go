package caddymodule

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tlsCaddyfile is the top-level example Caddyfile cut down to what runs
// on loopback: the site address has no scheme, so Caddy serves it over
// HTTPS and redirects plain HTTP, with a certificate from its own local CA
// (tls internal) instead of ACME. SQLite replaces MySQL and registration is
// open so that the test can create its account over HTTPS.
func tlsCaddyfile(dir, publicURL string) string {
	return globalOptions() + fmt.Sprintf(`
127.0.0.1 {
	tls internal
	encode zstd gzip
	firefox_sync {
		database sqlite %s
		bcrypt_cost 4
		quota 5MiB
		retry_after 30m
		public_url %s
		purge_interval off
	}
}
`, dir, publicURL)
}

// internalCAClient trusts only the root of Caddy's local CA, which Caddy
// wrote into the test's storage directory, so the certificate chain and
// the IP SAN are really verified (no InsecureSkipVerify). Redirects are
// returned, not followed, so the test sees them.
func internalCAClient(t *testing.T) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(storageDir, "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatalf("reading Caddy's local CA root: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in Caddy's root.crt")
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func TestTLSInternalSite(t *testing.T) {
	dir := t.TempDir()
	base := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	publicURL := base + "/"
	unloadAtEnd(t)
	initServer(t, tlsCaddyfile(dir, publicURL))
	client := internalCAClient(t)
	waitForCertificate(t, client, base)

	const email, password = "tls@example.com", "correct horse battery"
	user := syncUsername(email)
	do := func(method, path, body string, auth bool) (int, http.Header, string) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, base+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		if auth {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		if resp.TLS == nil {
			t.Fatalf("%s %s: answered without TLS", method, path)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, resp.Header, string(b)
	}

	reg, _ := json.Marshal(map[string]string{"email": email, "password": password})
	if status, _, body := do("PUT", "/user/1.0/"+user, string(reg), false); status != 200 || body != user {
		t.Fatalf("registration over HTTPS: %d %q", status, body)
	}
	if status, _, body := do("GET", "/user/1.0/"+user+"/node/weave", "", true); status != 200 || body != publicURL {
		t.Fatalf("node/weave: %d %q, want %q", status, body, publicURL)
	}
	const payload = `{\"ciphertext\":\"c\",\"IV\":\"i\",\"hmac\":\"h\"}`
	status, hdr, ts := do("PUT", "/1.1/"+user+"/storage/crypto/keys", `{"payload":"`+payload+`"}`, true)
	if status != 200 || ts != hdr.Get("X-Weave-Timestamp") {
		t.Fatalf("PUT crypto/keys over HTTPS: %d %q (X-Weave-Timestamp %q)", status, ts, hdr.Get("X-Weave-Timestamp"))
	}
	status, _, body := do("GET", "/1.1/"+user+"/storage/crypto/keys", "", true)
	var got struct {
		ID       string      `json:"id"`
		Modified json.Number `json:"modified"`
		Payload  string      `json:"payload"`
	}
	if status != 200 {
		t.Fatalf("GET crypto/keys: %d %q", status, body)
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("GET crypto/keys body %q: %v", body, err)
	}
	if got.ID != "keys" || got.Modified.String() != ts || got.Payload != strings.ReplaceAll(payload, `\"`, `"`) {
		t.Errorf("GET crypto/keys = %+v, want id keys, modified %s, the payload written", got, ts)
	}

	// Plain HTTP on the same address answers only with a redirect to the
	// HTTPS URL: no Sync answer, and so no credentials, travel in clear.
	req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/1.1/%s/info/collections?x=1", httpPort, user), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("plain HTTP request: %v", err)
	}
	redirect, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The port is left out when the site address names none: Caddy
	// redirects to the standard HTTPS port, which is where production
	// listens (this test's https_port is a free one).
	wantURI := "/1.1/" + user + "/info/collections?x=1"
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusPermanentRedirect || err != nil || loc.Scheme != "https" || loc.Hostname() != "127.0.0.1" ||
		(loc.Port() != "" && loc.Port() != strconv.Itoa(httpsPort)) || loc.RequestURI() != wantURI {
		t.Errorf("plain HTTP: %d Location %q, want 308 to https://127.0.0.1%s", resp.StatusCode, resp.Header.Get("Location"), wantURI)
	}
	if strings.Contains(string(redirect), "keys") || resp.Header.Get("X-Weave-Timestamp") != "" {
		t.Errorf("plain HTTP answered from the Sync handler: %v %q", resp.Header, redirect)
	}
}

// waitForCertificate waits for Caddy to issue the site's certificate,
// which it does in the background after the config loads; until then
// handshakes fail with an internal error alert.
func waitForCertificate(t *testing.T, client *http.Client, base string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/__heartbeat__")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no certificate from Caddy's local CA within 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
