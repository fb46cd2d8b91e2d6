package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// wire is a client over real HTTP, as Firefox talks to the server.
type wire struct {
	t        *testing.T
	user     string
	password string
}

type wireResp struct {
	code   int
	header http.Header
	body   string
}

func (c *wire) do(method, url, body string, hdrs ...string) wireResp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain")
	if c.user != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if ts := res.Header.Get("X-Weave-Timestamp"); !timestampText.MatchString(ts) {
		c.t.Errorf("%s %s: X-Weave-Timestamp %q", method, url, ts)
	}
	return wireResp{code: res.StatusCode, header: res.Header, body: string(b)}
}

func (c *wire) must(code int, r wireResp, what string) wireResp {
	c.t.Helper()
	if r.code != code {
		c.t.Fatalf("%s: status %d (body %q), want %d", what, r.code, r.body, code)
	}
	return r
}

// TestFirstSync walks through what Firefox does when a new account syncs
// for the first time, then what a second device and a reset do.
func TestFirstSync(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.PublicURL = "" }, func(t *testing.T, e *env) {
		srv := httptest.NewServer(e.h)
		defer srv.Close()
		const email, password = "first.sync@example.com", "a long enough password"
		user := httpapi.UsernameFromEmail(email)
		anon := &wire{t: t}
		fx := &wire{t: t, user: user, password: password}

		// Setup wizard: is the name free? Register it.
		anon.must(200, anon.do("GET", srv.URL+"/user/1.0/"+user, ""), "exists")
		if r := anon.do("GET", srv.URL+"/user/1.0/"+user, ""); r.body != "0" {
			t.Fatalf("exists = %q", r.body)
		}
		r := anon.must(200, anon.do("PUT", srv.URL+"/user/1.0/"+user,
			fmt.Sprintf(`{"email":%q,"password":%q,"captcha-challenge":"","captcha-response":""}`, email, password)), "create")
		if r.body != user {
			t.Fatalf("create answered %q", r.body)
		}

		// Login: find the storage node and build the cluster URLs from it.
		r = fx.must(200, fx.do("GET", srv.URL+"/user/1.0/"+user+"/node/weave", ""), "node/weave")
		if r.body != srv.URL+"/" {
			t.Fatalf("node/weave = %q, want %q", r.body, srv.URL+"/")
		}
		base := r.body + "1.1/" + user + "/"

		// Fresh account: nothing there, meta/global and crypto/keys 404.
		if r := fx.must(200, fx.do("GET", base+"info/collections", ""), "info/collections"); r.body != "{}" {
			t.Fatalf("info/collections = %s", r.body)
		}
		fx.must(404, fx.do("GET", base+"storage/meta/global", ""), "meta/global")
		fx.must(404, fx.do("GET", base+"storage/crypto/keys", ""), "crypto/keys")
		fx.must(200, fx.do("DELETE", base+"storage", "", "X-Confirm-Delete", "1"), "wipe before upload")

		e.clock.Advance(time.Second)
		meta := `{"id":"global","payload":"{\"syncID\":\"abcdefghijkl\",\"storageVersion\":5,\"engines\":{\"bookmarks\":{\"version\":2,\"syncID\":\"bbbbbbbbbbbb\"}}}"}`
		r = fx.must(200, fx.do("PUT", base+"storage/meta/global", meta), "PUT meta/global")
		if r.body != r.header.Get("X-Weave-Timestamp") {
			t.Errorf("PUT meta/global: body %s, header %s", r.body, r.header.Get("X-Weave-Timestamp"))
		}
		keys := `{"id":"keys","payload":"{\"ciphertext\":\"c2VjcmV0\",\"IV\":\"aXY=\",\"hmac\":\"00ff\"}"}`
		fx.must(200, fx.do("PUT", base+"storage/crypto/keys", keys), "PUT crypto/keys")
		got := fx.must(200, fx.do("GET", base+"storage/crypto/keys", ""), "GET crypto/keys").body
		if !strings.Contains(got, `"payload":"{\"ciphertext\":\"c2VjcmV0\",\"IV\":\"aXY=\",\"hmac\":\"00ff\"}"`) {
			t.Errorf("crypto/keys read back as %s", got)
		}

		// Upload 300 bookmarks in batches of 100, as MAX_UPLOAD_RECORDS.
		before := e.clock.ts()
		var lastSync string
		for batch := range 3 {
			e.clock.Advance(time.Second)
			var recs []string
			for i := range 100 {
				recs = append(recs, fmt.Sprintf(`{"id":"bm%03d-%05d","sortindex":%d,"parentid":"menu","payload":%q}`,
					batch, i, i, `{"ciphertext":"`+strings.Repeat("Q", 200)+`","IV":"x","hmac":"y"}`))
			}
			r := fx.must(200, fx.do("POST", base+"storage/bookmarks", "["+strings.Join(recs, ",")+"]"), "POST bookmarks")
			var res struct {
				Modified json.Number         `json:"modified"`
				Success  []string            `json:"success"`
				Failed   map[string][]string `json:"failed"`
			}
			if err := json.Unmarshal([]byte(r.body), &res); err != nil {
				t.Fatalf("POST answer %s: %v", r.body, err)
			}
			if len(res.Success) != 100 || len(res.Failed) != 0 || res.Modified.String() != r.header.Get("X-Weave-Timestamp") {
				t.Fatalf("POST answer %.200s", r.body)
			}
			lastSync = res.Modified.String()
		}
		r = fx.must(200, fx.do("GET", base+"info/collections", ""), "info/collections")
		var stamps map[string]json.Number
		if err := json.Unmarshal([]byte(r.body), &stamps); err != nil {
			t.Fatal(err)
		}
		if len(stamps) != 3 || stamps["bookmarks"].String() != lastSync {
			t.Errorf("info/collections = %s, want bookmarks at %s", r.body, lastSync)
		}

		// Read everything back the way Firefox streams it.
		r = fx.must(200, fx.do("GET", base+"storage/bookmarks?full=1&newer="+before, "", "Accept", "application/newlines"), "download")
		if r.header.Get("Content-Type") != "application/newlines" || r.header.Get("X-Weave-Records") != "300" {
			t.Errorf("download headers %v", r.header)
		}
		if !strings.HasSuffix(r.body, "}\n") {
			t.Errorf("last record does not end with a newline")
		}
		sc := bufio.NewScanner(strings.NewReader(r.body))
		n := 0
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec["parentid"] != "menu" {
				t.Fatalf("line %d: %q (%v)", n, sc.Text(), err)
			}
			n++
		}
		if n != 300 {
			t.Errorf("downloaded %d records, want 300", n)
		}
		// Nothing is newer than our own last upload.
		if r := fx.must(200, fx.do("GET", base+"storage/bookmarks?full=1&newer="+lastSync, "", "Accept", "application/newlines"), "incremental"); r.body != "" {
			t.Errorf("incremental sync returned %q", r.body)
		}

		// A second device changes one bookmark; the first sees just that.
		e.clock.Advance(time.Second)
		phone := &wire{t: t, user: user, password: password}
		phone.must(200, phone.do("POST", base+"storage/bookmarks", `[{"id":"bm001-00007","payload":"changed","sortindex":7,"parentid":"menu"}]`), "phone upload")
		r = fx.must(200, fx.do("GET", base+"storage/bookmarks?full=1&newer="+lastSync, ""), "incremental")
		var changed []map[string]any
		if err := json.Unmarshal([]byte(r.body), &changed); err != nil || len(changed) != 1 || changed[0]["payload"] != "changed" {
			t.Errorf("incremental after phone upload: %s", r.body)
		}

		// Delete one record, then everything.
		e.clock.Advance(time.Second)
		fx.must(200, fx.do("DELETE", base+"storage/bookmarks?ids=bm000-00000", ""), "delete one")
		fx.must(404, fx.do("GET", base+"storage/bookmarks/bm000-00000", ""), "deleted record")
		if r := fx.must(200, fx.do("GET", base+"info/collection_counts", ""), "counts"); !strings.Contains(r.body, `"bookmarks":299`) {
			t.Errorf("counts after deleting one: %s", r.body)
		}
		fx.must(400, fx.do("DELETE", base+"storage", ""), "delete all without confirmation")
		fx.must(200, fx.do("DELETE", base+"storage", "", "X-Confirm-Delete", "1"), "delete all")
		if r := fx.must(200, fx.do("GET", base+"info/collections", ""), "info/collections"); r.body != "{}" {
			t.Errorf("after deleting everything: %s", r.body)
		}
		fx.must(404, fx.do("GET", base+"storage/meta/global", ""), "meta/global after reset")
	})
}
