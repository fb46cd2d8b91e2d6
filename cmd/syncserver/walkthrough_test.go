package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/migrate/legacytest"
)

// The walk-through's accounts. alice is created natively by step 3; the
// others are FSyncMS accounts the test puts on the legacy server first.
// Canary buckets (syncstore.Bucket): erin 13, frank 19 (both below 25,
// so --canary 25 moves them), dave 38, carol 68, grace 95.
const (
	walkAlice = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"
	walkCarol = "wdyctqtto4gydqectmeyucv6p4szkxe3"
	walkErin  = "5mzvowjsx4ibp2df24iq4fhb2cfh2xbh"
	walkFrank = "shzjpkvdzwwljh5q2amispiopmz5zupg"
)

var walkLegacyUsers = []struct{ email, user, password string }{
	{"carol@example.com", walkCarol, "carol's fsyncms password"},
	{"dave@example.com", "4dd4o5evuny7qgyoj76fqudds3a5s22g", "dave's fsyncms password"},
	{"erin@example.com", walkErin, "erin's fsyncms password"},
	{"frank@example.com", walkFrank, "frank's fsyncms password"},
	{"grace@example.com", "brgtlijplaucsjoveqh2jlmfxw6hyxsb", "grace's fsyncms password"},
}

// TestREADMEWalkthrough runs the README's walk-through (the blocks marked
// <!-- walkthrough: … -->) in one bash session, as an operator would type
// them: it builds the binary, runs Caddyfile.local over HTTPS on a
// listener the test bound, adds a user, reloads with a legacy block in
// front of an FSyncMS stand-in on a real MariaDB database, migrates a
// canary and rolls one user back. After each step it checks what the
// step printed and, over HTTPS through the running server and directly
// on the legacy side, that every user's data is where and what it should
// be.
func TestREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a server: not in -short")
	}
	for _, tool := range []string{"bash", "curl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walk-through needs %s: %v", tool, err)
		}
	}
	blocks, err := readmeBlocks(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range blocks {
		names = append(names, b.Name)
	}
	want := []string{"install", "run", "users", "shim", "canary", "rollback", "stop"}
	if !slices.Equal(names, want) {
		t.Fatalf("README walk-through steps %q, want %q (the test checks each by name)", names, want)
	}

	// The operator's existing FSyncMS: accounts with records, md5 logins.
	legacy := legacytest.StartServer(t, legacytest.ServerOptions{EnableRegister: true})
	plain := &http.Client{Timeout: 10 * time.Second}
	for i, u := range walkLegacyUsers {
		seedLegacyUser(t, plain, legacy.URL, u.email, u.user, u.password, 20+i)
	}
	legacyBefore := map[string]walkSnapshot{}
	for _, u := range walkLegacyUsers {
		legacyBefore[u.user] = snapshot(t, plain, legacy.URL, u.user, u.password)
	}

	home := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	lf, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()

	env := walkEnv(t, home, map[string]string{
		"SYNCSERVER_BIND":       "fd/3",
		"SYNCSERVER_HTTPS_PORT": strconv.Itoa(port),
		"SYNCSERVER_ADMIN":      "unix/" + filepath.Join(home, "admin.sock"),
		"LEGACY_UPSTREAM":       strings.TrimPrefix(legacy.URL, "http://"),
		"LEGACY_DSN":            legacytest.DSN(t, legacy.DBName),
		"CAROL_PW":              walkLegacyUsers[0].password,
		"ERIN_PW":               walkLegacyUsers[2].password,
	})
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sh, err := startShell(repo, env, lf)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.close()

	try := filepath.Join(home, "syncserver-try")
	base := fmt.Sprintf("https://localhost:%d", port)
	var client *http.Client // trusts the server's local CA only, from step "run"
	step := func(b readmeBlock, timeout time.Duration) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		out, err := sh.run(ctx, b.Code)
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(try, "server.log"))
			t.Fatalf("README walk-through step %q (README.md:%d): %v\n--- output:\n%s--- server.log:\n%s", b.Name, b.Line, err, out, log)
		}
		t.Logf("step %s:\n%s", b.Name, out)
		return out
	}
	expect := func(b readmeBlock, out string, patterns ...string) {
		t.Helper()
		for _, p := range patterns {
			if !regexp.MustCompile(p).MatchString(out) {
				t.Errorf("step %q (README.md:%d): output does not match %q:\n%s", b.Name, b.Line, p, out)
			}
		}
	}
	routes := func(b readmeBlock, out string, legacyN, migratingN, nativeN int) {
		t.Helper()
		expect(b, out,
			fmt.Sprintf(`(?m)^legacy\s+%d$`, legacyN),
			fmt.Sprintf(`(?m)^migrating\s+%d$`, migratingN),
			fmt.Sprintf(`(?m)^native\s+%d$`, nativeN))
	}

	for _, b := range blocks {
		switch b.Name {
		case "install":
			out := step(b, 5*time.Minute)
			expect(b, out, `(?m)^v2\.`)
			if _, err := os.Stat(filepath.Join(home, ".local", "bin", "syncserver")); err != nil {
				t.Fatalf("step install built no binary: %v", err)
			}

		case "run":
			out := step(b, 2*time.Minute)
			expect(b, out, `(?m)^200$`)
			client = localCAClient(t, try, port)
			if status, _, body := walkDo(t, client, "PUT", base+"/user/1.0/"+walkAlice, "", "", `{"email":"alice@example.com","password":"correct horse battery"}`); status != 400 || body != "3" {
				t.Errorf("registration: %d %q, want 400 and error 3 (registration closed)", status, body)
			}

		case "users":
			out := step(b, time.Minute)
			routes(b, out, 0, 0, 1)
			expect(b, out,
				`(?i)created user `+walkAlice+` \(alice@example\.com\)`,
				`(?m)^`+walkAlice+`\s+alice@example\.com$`,
				`database: SQLite database `+regexp.QuoteMeta(filepath.Join(try, "data", "syncserver.db")),
				`(?m)^\{"meta":\d+\.\d\d\}$`)
			if status, _, body := walkDo(t, client, "GET", base+"/1.1/"+walkAlice+"/storage/meta/global", walkAlice, "correct horse battery", ""); status != 200 || !strings.Contains(body, "Dv8yBJXhwQ3H") {
				t.Errorf("alice's meta/global over HTTPS: %d %q", status, body)
			}

		case "shim":
			out := step(b, time.Minute)
			routes(b, out, 0, 0, 1)
			expect(b, out, `legacy database: 5 users: 5 without a route row \(served as the shim's default_state, legacy unless configured\), 0 legacy, 0 migrating, 0 native`)
			// Both legacy users' info/collections, proxied to FSyncMS.
			for _, u := range []string{walkCarol, walkErin} {
				expect(b, out, regexp.QuoteMeta(legacyInfo(t, plain, legacy.URL, u)))
			}
			for _, u := range walkLegacyUsers {
				if got := snapshot(t, client, base, u.user, u.password); !got.equal(legacyBefore[u.user]) {
					t.Errorf("%s through the shim differs from FSyncMS:\n%s", u.email, got.diff(legacyBefore[u.user]))
				}
			}

		case "canary":
			out := step(b, 2*time.Minute)
			routes(b, out, 0, 0, 3)
			expect(b, out, `legacy database: 5 users: 3 without a route row \(served as the shim's default_state, legacy unless configured\), 0 legacy, 0 migrating, 2 native`)
			expect(b, out, walkErin, walkFrank,
				`(?m)^dry run\s+2$`, `(?m)^migrated\s+2$`, // the dry run, then the move
				`(?m)^user:\s+`+walkErin+`$`, `(?m)^bucket:\s+13$`, `(?m)^state:\s+native$`,
				`(?m)^\d+\.\d\d$`) // the PUT's timestamp
			if strings.Contains(out, walkCarol) {
				t.Errorf("step canary: carol (bucket 68) is named in the output of --canary 25:\n%s", out)
			}
			// Native now. A write reads the route table (never a stale
			// cached route) and refreshes the cache: erin's PUT must land
			// in the native store and not on FSyncMS, carol's on FSyncMS.
			const extra = `{"payload":"{\"ciphertext\":\"written by the test\"}"}`
			erinPW, carolPW := walkLegacyUsers[2].password, walkLegacyUsers[0].password
			if status, _, body := walkDo(t, client, "PUT", base+"/1.1/"+walkErin+"/storage/bookmarks/walkthrough1", walkErin, erinPW, extra); status != 200 {
				t.Fatalf("erin's PUT through the shim: %d %q", status, body)
			}
			if status, _, body := walkDo(t, client, "PUT", base+"/1.1/"+walkCarol+"/storage/bookmarks/walkthrough1", walkCarol, carolPW, extra); status != 200 {
				t.Fatalf("carol's PUT through the shim: %d %q", status, body)
			}
			if got := snapshot(t, plain, legacy.URL, walkCarol, carolPW); got["bookmarks"]["walkthrough1"] == "" {
				t.Errorf("carol (legacy) wrote through the shim, but FSyncMS does not have the record")
			} else {
				legacyBefore[walkCarol] = got
			}
			// FSyncMS still holds erin's data as it was: neither the step's
			// write nor the test's reached it.
			if got := snapshot(t, plain, legacy.URL, walkErin, erinPW); !got.equal(legacyBefore[walkErin]) {
				t.Errorf("erin's data on FSyncMS changed after the move:\n%s", got.diff(legacyBefore[walkErin]))
			}
			// Through the shim: FSyncMS's data as migrated, plus the two
			// records written since, which only the native store has.
			native := snapshot(t, client, base, walkErin, erinPW)
			before := legacyBefore[walkErin]
			if got := native.without("bookmarks", "walkthrough0", "walkthrough1"); !got.equal(before) {
				t.Errorf("erin after the canary differs from FSyncMS before it:\n%s", got.diff(before))
			}
			for _, id := range []string{"walkthrough0", "walkthrough1"} {
				if _, ok := native["bookmarks"][id]; !ok {
					t.Errorf("erin's bookmarks through the shim lack %s, written while native", id)
				}
			}
			legacyBefore[walkErin+"/native"] = native
			for _, u := range walkLegacyUsers {
				if u.user == walkErin {
					continue
				}
				if u.user == walkFrank {
					if got := snapshot(t, client, base, u.user, u.password); !got.equal(legacyBefore[u.user]) {
						t.Errorf("frank after the canary differs from FSyncMS before it:\n%s", got.diff(legacyBefore[u.user]))
					}
					continue
				}
				if got := snapshot(t, plain, legacy.URL, u.user, u.password); !got.equal(legacyBefore[u.user]) {
					t.Errorf("%s on FSyncMS changed during the canary:\n%s", u.email, got.diff(legacyBefore[u.user]))
				}
			}

		case "rollback":
			out := step(b, 2*time.Minute)
			routes(b, out, 1, 0, 2)
			expect(b, out, `legacy database: 5 users: 3 without a route row \(served as the shim's default_state, legacy unless configured\), 1 legacy, 0 migrating, 1 native`)
			expect(b, out, `(?m)^rolled back\s+1$`, `"id":"walkthrough0"`, `written while native`,
				// The native login rehashed erin's MD5 password; FSyncMS
				// without BCRYPT keeps checking the MD5 one.
				`legacy MD5 hash was kept`)
			native := legacyBefore[walkErin+"/native"]
			pw := walkLegacyUsers[2].password
			if got := snapshot(t, plain, legacy.URL, walkErin, pw); !got.equal(native) {
				t.Errorf("erin on FSyncMS after the rollback differs from erin's native data:\n%s", got.diff(native))
			}
			// Legacy now: a write through the shim lands on FSyncMS.
			const extra = `{"payload":"{\"ciphertext\":\"written by the test after the rollback\"}"}`
			if status, _, body := walkDo(t, client, "PUT", base+"/1.1/"+walkErin+"/storage/bookmarks/walkthrough2", walkErin, pw, extra); status != 200 {
				t.Fatalf("erin's PUT after the rollback: %d %q", status, body)
			}
			if _, ok := snapshot(t, plain, legacy.URL, walkErin, pw)["bookmarks"]["walkthrough2"]; !ok {
				t.Errorf("erin's write after the rollback did not reach FSyncMS")
			}

		case "stop":
			step(b, time.Minute)
			// The server exits once it has answered the stop request: wait
			// for its admin socket to refuse connections. (Its HTTPS port
			// cannot tell: the test holds a copy of that listener, so a
			// connection would wait in the backlog rather than be refused.)
			sock := filepath.Join(home, "admin.sock")
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				c, err := net.DialTimeout("unix", sock, time.Second)
				if err != nil {
					break
				}
				c.Close()
				if time.Now().After(deadline) {
					t.Fatalf("the admin endpoint still accepts connections 20s after step stop")
				}
			}
		}
	}
}

// walkEnv is the environment of the walk-through's shell: the test's own,
// without variables that would change what the commands do
// (SYNCSERVER_MYSQL_DSN is unset by the README itself), HOME in the test's
// directory, Go's caches kept where they are, and the README's variables.
func walkEnv(t *testing.T, home string, vars map[string]string) []string {
	t.Helper()
	goenv := map[string]string{}
	out, err := exec.Command("go", "env", "-json", "GOCACHE", "GOMODCACHE", "GOPATH", "GOTOOLCHAIN").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	if err := json.Unmarshal(out, &goenv); err != nil {
		t.Fatalf("go env: %v", err)
	}
	drop := func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "SYNCSERVER_TEST_MAIN", k == "SYNCSERVER_LEGACY_DSN", k == "SYNCSERVER_NATIVE_DSN",
			k == "HOME", k == "XDG_CONFIG_HOME", k == "XDG_DATA_HOME":
			return true
		}
		_, ours := vars[k]
		_, gos := goenv[k]
		return ours || gos
	}
	env := slices.DeleteFunc(os.Environ(), drop)
	env = append(env, "HOME="+home)
	for _, k := range slices.Sorted(maps.Keys(goenv)) {
		if goenv[k] != "" {
			env = append(env, k+"="+goenv[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// seedLegacyUser registers an account on the FSyncMS stand-in and uploads
// meta/global, crypto/keys and n bookmarks and history records.
func seedLegacyUser(t *testing.T, c *http.Client, base, email, user, password string, n int) {
	t.Helper()
	reg, _ := json.Marshal(map[string]string{"email": email, "password": password})
	if status, _, body := walkDo(t, c, "PUT", base+"/user/1.0/"+user, "", "", string(reg)); status != 200 {
		t.Fatalf("registering %s on FSyncMS: %d %q", email, status, body)
	}
	put := func(path, body string) {
		t.Helper()
		if status, _, resp := walkDo(t, c, "PUT", base+"/1.1/"+user+"/storage/"+path, user, password, body); status != 200 {
			t.Fatalf("PUT %s for %s on FSyncMS: %d %q", path, email, status, resp)
		}
	}
	put("meta/global", `{"payload":"{\"syncID\":\"`+user[:12]+`\",\"storageVersion\":5}"}`)
	put("crypto/keys", `{"payload":"{\"ciphertext\":\"keys of `+email+`\",\"IV\":\"aXY=\",\"hmac\":\"0f3a\"}"}`)
	for _, coll := range []string{"bookmarks", "history"} {
		var recs []map[string]any
		for i := range n {
			recs = append(recs, map[string]any{
				"id":        fmt.Sprintf("%s%08d", coll[:4], i),
				"sortindex": i * 10,
				"payload":   fmt.Sprintf(`{"ciphertext":"%s %s record %d"}`, email, coll, i),
			})
		}
		body, _ := json.Marshal(recs)
		status, _, resp := walkDo(t, c, "POST", base+"/1.1/"+user+"/storage/"+coll, user, password, string(body))
		var res struct {
			Success []string        `json:"success"`
			Failed  json.RawMessage `json:"failed"` // [] when empty, as PHP encodes it
		}
		if status != 200 || json.Unmarshal([]byte(resp), &res) != nil || len(res.Success) != n ||
			(string(res.Failed) != "[]" && string(res.Failed) != "{}") {
			t.Fatalf("POST %s for %s on FSyncMS: %d %q", coll, email, status, resp)
		}
	}
}

// walkSnapshot is a user's data as a client reads it: every collection's
// records (id, modified, sortindex, payload) by id.
type walkSnapshot map[string]map[string]string

// snapshot reads every collection of user with full=1 from base.
func snapshot(t *testing.T, c *http.Client, base, user, password string) walkSnapshot {
	t.Helper()
	status, _, body := walkDo(t, c, "GET", base+"/1.1/"+user+"/info/collections", user, password, "")
	var stamps map[string]json.Number
	if status != 200 || json.Unmarshal([]byte(body), &stamps) != nil {
		t.Fatalf("info/collections of %s at %s: %d %q", user, base, status, body)
	}
	s := walkSnapshot{}
	for coll := range stamps {
		status, _, body := walkDo(t, c, "GET", base+"/1.1/"+user+"/storage/"+coll+"?full=1", user, password, "")
		var recs []map[string]any
		if status != 200 || json.Unmarshal([]byte(body), &recs) != nil {
			t.Fatalf("%s of %s at %s: %d %q", coll, user, base, status, body)
		}
		s[coll] = map[string]string{}
		for _, r := range recs {
			id, _ := r["id"].(string)
			s[coll][id] = fmt.Sprintf("modified=%v sortindex=%v payload=%v", r["modified"], r["sortindex"], r["payload"])
		}
	}
	return s
}

func (s walkSnapshot) equal(o walkSnapshot) bool { return s.diff(o) == "" }

// diff lists the records that differ, one per line ("" if none).
func (s walkSnapshot) diff(o walkSnapshot) string {
	var lines []string
	colls := slices.Sorted(maps.Keys(s))
	for c := range o {
		if _, ok := s[c]; !ok {
			colls = append(colls, c)
		}
	}
	for _, c := range colls {
		ids := slices.Sorted(maps.Keys(s[c]))
		for id := range o[c] {
			if _, ok := s[c][id]; !ok {
				ids = append(ids, id)
			}
		}
		for _, id := range ids {
			a, inS := s[c][id]
			b, inO := o[c][id]
			if inS != inO || a != b {
				lines = append(lines, fmt.Sprintf("%s/%s: got %q (present %v), want %q (present %v)", c, id, a, inS, b, inO))
			}
		}
	}
	return strings.Join(lines, "\n")
}

// without returns s less the given records of one collection.
func (s walkSnapshot) without(coll string, ids ...string) walkSnapshot {
	out := walkSnapshot{}
	for c, recs := range s {
		out[c] = maps.Clone(recs)
		if c == coll {
			for _, id := range ids {
				delete(out[c], id)
			}
		}
	}
	return out
}

// legacyInfo is user's info/collections body as FSyncMS answers it.
func legacyInfo(t *testing.T, c *http.Client, base, user string) string {
	t.Helper()
	for _, u := range walkLegacyUsers {
		if u.user == user {
			status, _, body := walkDo(t, c, "GET", base+"/1.1/"+user+"/info/collections", user, u.password, "")
			if status != 200 {
				t.Fatalf("info/collections of %s on FSyncMS: %d %q", user, status, body)
			}
			return body
		}
	}
	t.Fatalf("no legacy user %s", user)
	return ""
}

// walkDo sends one request (Basic auth if user is set) and returns the
// status, headers and body.
func walkDo(t *testing.T, c *http.Client, method, url, user, password, body string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// localCAClient is a client that trusts only the local CA of the server
// running in dir and dials its listener for localhost.
func localCAClient(t *testing.T, dir string, port int) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt"))
	if err != nil {
		t.Fatalf("the local CA's root: %v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in the local CA's root.crt")
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			// A reload replaces the server: a kept-alive connection to
			// the old one could be closed under a request.
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}
}
