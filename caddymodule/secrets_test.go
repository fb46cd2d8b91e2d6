package caddymodule

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSecretsNotInCaddyLogs runs Caddy with firefox_sync, every log at
// debug level and an access log, sends registrations, logins with right
// and wrong passwords and a password change, then loads configurations
// whose MySQL DSN carries a password and cannot connect (written out, and
// through an {env.*} placeholder). No log line, admin API answer or
// metric may contain a password, an Authorization header value or the
// DSN password.
func TestSecretsNotInCaddyLogs(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "caddy.log")
	accessLog := filepath.Join(dir, "access.log")
	global := strings.TrimSuffix(globalOptions(), "}\n") + fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}\n}\n", logFile)
	site := func(settings string) string {
		return global + fmt.Sprintf(`
http://127.0.0.1:%d {
	log {
		output file %s
	}
	firefox_sync {
		bcrypt_cost 4
		%s
	}
}
`, httpPort, accessLog, settings)
	}
	initServer(t, site("database sqlite "+filepath.Join(dir, "data")))
	unloadAtEnd(t)

	var secrets []string
	secret := func(user, password string) string {
		secrets = append(secrets, password, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
		return password
	}
	c := newSyncClient(t, "carol@example.com", secret(syncUsername("carol@example.com"), "Carol-Caddy-Pa55-3187"))
	c.register("carol@example.com")
	c.firstSync(fmt.Sprintf("http://127.0.0.1:%d/", httpPort))
	wrong := *c
	wrong.password = secret(c.user, "Wrong-Caddy-Pa55-2290")
	if r := wrong.do("GET", "/1.1/"+c.user+"/info/collections", "", true); r.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", r.status)
	}
	next := secret(c.user, "Next-Caddy-Pa55-5521")
	c.expect(c.do("POST", "/user/1.0/"+c.user+"/password", next, true), http.StatusOK, "success")
	c.password = next
	c.expect(c.do("GET", "/1.1/"+c.user+"/info/collections", "", true), http.StatusOK, "*")

	// Configurations that fail to open their database: the load is
	// refused, and the refusal is logged by the running configuration.
	const dsnPassword = "Caddy-Dsn-S3cret-8841"
	secrets = append(secrets, dsnPassword)
	t.Setenv("HRD_TEST_DSN", "root:"+dsnPassword+"@tcp(127.0.0.1:3306)/hrd_none")
	for _, db := range []string{
		"database mysql root:" + dsnPassword + "@tcp(127.0.0.1:3306)/hrd_none",
		"database mysql {env.HRD_TEST_DSN}",
		"database mysql root:" + dsnPassword + "@tcp(127.0.0.1:1)/hrd_none",
		"database mysql root:" + dsnPassword + "@tcp(127.0.0.1:3306)",
	} {
		status, answer := postLoad(t, site(db))
		if status == http.StatusOK {
			t.Fatalf("%s: the configuration loaded", db)
		}
		if strings.Contains(answer, dsnPassword) {
			t.Errorf("admin API answer to %q shows the DSN password: %s", db, answer)
		}
		if !strings.Contains(answer, "MySQL") {
			t.Errorf("admin API answer to %q does not say what failed: %s", db, answer)
		}
	}
	// The running configuration still serves.
	c.expect(c.do("GET", "/1.1/"+c.user+"/info/collections", "", true), http.StatusOK, "*")

	if n := strings.Count(readFile(t, logFile), "opening MySQL database"); n < 4 {
		t.Errorf("caddy.log holds %d refused loads, want 4: the check below would miss them", n)
	}
	metrics := httpGet(t, fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	for _, f := range []struct{ name, text string }{
		{"caddy.log", readFile(t, logFile)},
		{"access.log", readFile(t, accessLog)},
		{"metrics", metrics},
	} {
		if f.text == "" {
			t.Errorf("%s is empty: nothing was checked", f.name)
		}
		for _, s := range secrets {
			if strings.Contains(f.text, s) {
				t.Errorf("%s contains the secret %q", f.name, s)
			}
		}
	}
	if !strings.Contains(readFile(t, accessLog), `"Authorization":["REDACTED"]`) {
		t.Errorf("the access log does not show the Authorization header redacted; was it logged at all?")
	}
}

// postLoad sends a Caddyfile to the admin API and waits for the reload
// it causes to settle: even a refused load restarts the admin endpoint
// twice (new config, then the old one back).
func postLoad(t *testing.T, caddyfile string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", adminPort), strings.NewReader(caddyfile))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	settleReload(t)
	return resp.StatusCode, string(b)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
