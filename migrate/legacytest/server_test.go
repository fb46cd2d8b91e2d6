package legacytest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// clock is a settable ServerOptions.Clock.
type clock struct {
	mu sync.Mutex
	cs int64 // centiseconds
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.UnixMilli(c.cs * 10)
}

func (c *clock) set(cs int64) {
	c.mu.Lock()
	c.cs = cs
	c.mu.Unlock()
}

type answer struct {
	status int
	body   string
	header http.Header
}

// client talks to a stand-in as one user.
type client struct {
	t        *testing.T
	base     string
	user, pw string
}

func (c *client) do(method, path, body string, header ...string) answer {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pw)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return answer{resp.StatusCode, string(b), resp.Header}
}

// expect checks status and exact body, and the headers every FSyncMS
// answer carries.
func (c *client) expect(method, path, body string, status int, want string, header ...string) answer {
	c.t.Helper()
	a := c.do(method, path, body, header...)
	if a.status != status || a.body != want {
		c.t.Errorf("%s %s = %d %q, want %d %q", method, path, a.status, a.body, status, want)
	}
	if a.header.Get("X-Weave-Timestamp") == "" {
		c.t.Errorf("%s %s: no X-Weave-Timestamp", method, path)
	}
	return a
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestSession(t *testing.T) {
	clk := &clock{cs: 179577337560}
	srv := StartServer(t, ServerOptions{EnableRegister: true, Clock: clk.now})
	c := &client{t: t, base: srv.URL}

	checkHeaders := func(a answer, ts string) {
		t.Helper()
		if got := a.header.Get("X-Weave-Timestamp"); got != ts {
			t.Errorf("X-Weave-Timestamp = %q, want %q", got, ts)
		}
		if got := a.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
	}

	a := c.expect("PUT", "/user/1.0/Alice.Smith", `{"password":"s3cret","email":"alice@example.com","captcha-response":"x"}`, 200, `"alice.smith"`)
	checkHeaders(a, "1795773375.6")
	var name, hash string
	if err := srv.DB.QueryRow("SELECT username, md5 FROM users").Scan(&name, &hash); err != nil {
		t.Fatal(err)
	}
	if name != "Alice.Smith" || hash != md5hex("s3cret") {
		t.Errorf("users row = %q %q, want the name as typed and md5 hex", name, hash)
	}
	checkHeaders(c.expect("GET", "/user/1.0/alice.smith", "", 200, "1"), "1795773375.6")
	c.expect("GET", "/user/1.0/bob", "", 200, "0")
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	a = c.expect("GET", "/user/1.0/alice.smith/node/weave", "", 200, strings.TrimSuffix(srv.URL, port)+"/")
	checkHeaders(a, "1795773375.6")

	c.user, c.pw = "alice.smith", "s3cret"
	clk.set(179577337600)
	a = c.expect("PUT", "/1.1/alice.smith/storage/meta/global", `{"payload":"{\"syncID\":\"ab/cd\",\"storageVersion\":5}"}`, 200, "1795773376")
	checkHeaders(a, "1795773376")
	c.expect("GET", "/1.1/alice.smith/storage/meta/global", "", 200,
		`{"id":"global","modified":1795773376,"payload":"{\"syncID\":\"ab\/cd\",\"storageVersion\":5}"}`)

	clk.set(179577337725)
	var batch, ids []string
	for i := range 100 {
		id := fmt.Sprintf("rec%03d", i)
		batch = append(batch, fmt.Sprintf(`{"id":%q,"sortindex":%d,"parentid":"menu","payload":"{\"ciphertext\":\"c%d/+==\"}"}`, id, i, i))
		ids = append(ids, `"`+id+`"`)
	}
	list := "[" + strings.Join(ids, ",") + "]"
	a = c.expect("POST", "/1.1/alice.smith/storage/bookmarks", "["+strings.Join(batch, ",")+"]", 200,
		`{"success":`+list+`,"failed":[]}`)
	checkHeaders(a, "1795773377.25")
	var stored float64
	if err := srv.DB.QueryRow("SELECT modified FROM wbo WHERE id = 'rec042'").Scan(&stored); err != nil || stored != 1795773377.25 {
		t.Errorf("stored modified = %v, %v; want the DOUBLE 1795773377.25", stored, err)
	}

	c.expect("GET", "/1.1/alice.smith/info/collections", "", 200, `{"bookmarks":1795773377.25,"meta":1795773376}`)
	a = c.expect("GET", "/1.1/alice.smith/storage/bookmarks?newer=1795773376", "", 200, list)
	if got := a.header.Get("X-Weave-Records"); got != "100" {
		t.Errorf("X-Weave-Records = %q, want 100", got)
	}
	a = c.expect("GET", "/1.1/alice.smith/storage/bookmarks?newer=1795773377.25", "", 200, "[]")
	if _, ok := a.header["X-Weave-Records"]; ok {
		t.Error("X-Weave-Records sent for an empty answer")
	}
	c.expect("GET", "/1.1/alice.smith/storage/bookmarks?full=1&ids=rec007", "", 200,
		`[{"id":"rec007","parentid":"menu","modified":1795773377.25,"sortindex":7,"payload":"{\"ciphertext\":\"c7\/+==\"}"}]`)

	clk.set(179577337850)
	checkHeaders(c.expect("DELETE", "/1.1/alice.smith/storage/bookmarks/rec000", "", 200, "1795773378.5"), "1795773378.5")
	c.expect("DELETE", "/1.1/alice.smith/storage/bookmarks?ids=rec001,rec002", "", 200, "1795773378.5")
	c.expect("GET", "/1.1/alice.smith/info/collection_counts", "", 200, `{"bookmarks":97,"meta":1}`)
	// Deleting bumps nothing (docs/legacy.md §4.2).
	c.expect("GET", "/1.1/alice.smith/info/collections", "", 200, `{"bookmarks":1795773377.25,"meta":1795773376}`)
	c.expect("DELETE", "/1.1/alice.smith/storage", "", 412, "4")
	c.expect("DELETE", "/1.1/alice.smith/storage", "", 200, "1795773378.5", "X-Confirm-Delete", "1")
	c.expect("GET", "/1.1/alice.smith/info/collections", "", 200, "[]")
	c.expect("GET", "/user/1.0/alice.smith", "", 200, "1")
}

// seed inserts a user with a known password and records the way FSyncMS
// stored them.
func seed(t *testing.T, srv *Server, name, pw string, recs []Record) {
	t.Helper()
	u := User{Name: name, PasswordHash: md5hex(pw), Records: recs}
	if err := Insert(context.Background(), srv.DB, srv.Layout, []User{u}); err != nil {
		t.Fatal(err)
	}
}

func TestStorageQuirks(t *testing.T) {
	clk := &clock{cs: 179577340000}
	srv := StartServer(t, ServerOptions{Clock: clk.now})
	s := func(v string) *string { return &v }
	i := func(v int64) *int64 { return &v }
	seed(t, srv, "Bob", "pw", []Record{
		{Collection: "tabs", ID: "c", Modified: 179577330010, SortIndex: i(5), Payload: s(strings.Repeat("x", 1500))},
		{Collection: "tabs", ID: "a", Modified: 179577330020, SortIndex: i(9), ParentID: s("p1"), PredecessorID: s("77"), Payload: s("é/\u2603\n")},
		{Collection: "tabs", ID: "b", Modified: 179577330000, Payload: s("y")},
		{Collection: "forms", ID: "f", Modified: 179577320000},
	})

	t.Run("routing", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		c.expect("GET", "/2.0/bob/info/collections", "", 404, `"Function not found"`)
		c.expect("GET", "/1.1/bob/nothing/tabs", "", 400, "11")
		c.expect("DELETE", "/1.1/bob", "", 400, "11")
		c.expect("GET", "/1.1/bob!/info/collections", "", 400, "3")
		c.expect("GET", "/1.1/"+strings.Repeat("b", 33)+"/info/collections", "", 400, "3")
		c.expect("GET", "/1.1/bob/storage/bad!name", "", 400, "13")
		c.expect("GET", "/1.1/bob/storage", "", 400, "1")
		c.expect("PUT", "/1.1/bob/info/collections", "", 400, "1")
		c.expect("GET", "/1.1/bob/info/nothing", "", 400, "1")
		// "?" and "=" are allowed in collection names.
		c.expect("GET", "/1.1/bob/storage/a%3Fb=c", "", 200, "[]")
		a := c.expect("GET", "/1.0/bob/storage/tabs", "", 200, `["a","b","c"]`)
		if got := a.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q", got)
		}
	})

	t.Run("auth", func(t *testing.T) {
		anon := &client{t: t, base: srv.URL}
		a := anon.expect("GET", "/1.1/bob/info/collections", "", 401, `"Authentication failed"`)
		if got := a.header.Get("WWW-Authenticate"); got != `Basic realm="Weave"` {
			t.Errorf("WWW-Authenticate = %q", got)
		}
		(&client{t: t, base: srv.URL, user: "bob", pw: "wrong"}).expect("GET", "/1.1/bob/info/collections", "", 401, `"Authentication failed"`)
		(&client{t: t, base: srv.URL, user: "nobody", pw: "pw"}).expect("GET", "/1.1/nobody/info/collections", "", 401, `"Authentication failed"`)
		(&client{t: t, base: srv.URL, user: "carol", pw: "pw"}).expect("GET", "/1.1/bob/info/collections", "", 400, "5")
		// Names compare lower-cased; the _ci collation finds "Bob".
		(&client{t: t, base: srv.URL, user: "BOB", pw: "pw"}).expect("GET", "/1.1/bOb/info/collection_counts", "", 200, `{"forms":1,"tabs":3}`)
	})

	t.Run("info", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		c.expect("GET", "/1.1/bob/info/collections", "", 200, `{"forms":1795773200,"tabs":1795773300.2}`)
		// 1500 + 7 + 1 bytes: round(1509/1024) = 1; usage rounds up per collection.
		c.expect("GET", "/1.1/bob/info/quota", "", 200, "[1]")
		c.expect("GET", "/1.1/bob/info/collection_usage", "", 200, `{"forms":0,"tabs":2}`)
	})

	t.Run("queries", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		for q, want := range map[string]string{
			"":                                  `["a","b","c"]`,
			"?sort=index":                       `["a","c","b"]`,
			"?sort=newest":                      `["a","c","b"]`,
			"?sort=oldest":                      `["b","c","a"]`,
			"?sort=oldest&limit=2&offset=1":     `["c","a"]`,
			"?offset=1":                         `["a","b","c"]`,
			"?limit=1":                          `["a"]`,
			"?ids=c,a,zz&sort=newest":           `["a","c"]`,
			"?parentid=p1":                      `["a"]`,
			"?predecessorid=77":                 `["a"]`,
			"?newer=1795773300.1":               `["a"]`,
			"?newer=1795773300.004":             `["a","c"]`,
			"?older=1795773300.1":               `["b"]`,
			"?index_above=1":                    `[]`,
			"?index_below=100":                  `[]`,
			"?newer=abc&limit=-1":               `["a","b","c"]`,
			"?full=0":                           `["a","b","c"]`,
			"?full=1&ids=b":                     `[{"id":"b","modified":1795773300,"payload":"y"}]`,
			"?full=1&ids=a&sort=index&depth=2":  `[{"id":"a","parentid":"p1","modified":1795773300.2,"predecessorid":"77","sortindex":9,"payload":"\u00e9\/\u2603\n"}]`,
			"?full=1&sort=oldest&limit=1&ids=f": `[]`,
		} {
			c.expect("GET", "/1.1/bob/storage/tabs"+q, "", 200, want)
		}
		c.expect("GET", "/1.1/bob/storage/forms?full=1", "", 200, `[{"id":"f","modified":1795773200}]`)
	})

	t.Run("formats", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		a := c.expect("GET", "/1.1/bob/storage/tabs?ids=a,b&sort=newest", "", 200, "\"a\"\n\"b\"\n", "Accept", "application/newlines")
		if got := a.header.Get("Content-Type"); got != "application/newlines" {
			t.Errorf("newlines Content-Type = %q", got)
		}
		a = c.expect("GET", "/1.1/bob/storage/tabs?ids=a,b&sort=newest", "", 200, "\x00\x00\x00\x03\"a\"\x00\x00\x00\x03\"b\"", "Accept", "application/whoisi")
		if got := a.header.Get("Content-Type"); got != "application/whoisi" {
			t.Errorf("whoisi Content-Type = %q", got)
		}
		c.expect("GET", "/1.1/bob/storage/tabs?ids=a,b&sort=newest", "", 200, `["a","b"]`, "Accept", "application/newlines, */*")
	})

	t.Run("items", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		c.expect("GET", "/1.1/bob/storage/tabs/nope", "", 404, `"record not found"`)
		c.expect("GET", "/1.1/bob/storage/tabs/b", "", 200, `{"id":"b","modified":1795773300,"payload":"y"}`)
	})

	t.Run("writes", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		clk.set(179577350060)
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"sortindex":3,"parentid":"p","predecessorid":"12","payload":"one"}`, 200, "1795773500.6")
		c.expect("GET", "/1.1/bob/storage/w/x", "", 200, `{"id":"x","parentid":"p","modified":1795773500.6,"predecessorid":"12","sortindex":3,"payload":"one"}`)
		// A payload overwrites every field; absent ones become NULL.
		clk.set(179577350100)
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"payload":"two"}`, 200, "1795773501")
		c.expect("GET", "/1.1/bob/storage/w/x", "", 200, `{"id":"x","modified":1795773501,"payload":"two"}`)
		// Without one only the given fields change, and modified only with parentid.
		clk.set(179577350200)
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"sortindex":"8.9"}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/storage/w/x", "", 200, `{"id":"x","modified":1795773501,"sortindex":8,"payload":"two"}`)
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"parentid":"q","payload":null}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/storage/w/x", "", 200, `{"id":"x","parentid":"q","modified":1795773502,"sortindex":8,"payload":"two"}`)
		c.expect("PUT", "/1.1/bob/storage/w/ghost", `{"sortindex":1}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/storage/w/ghost", "", 404, `"record not found"`)
		// The body's id wins over the URL's.
		c.expect("PUT", "/1.1/bob/storage/w/url", `{"id":"body","payload":"p"}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/storage/w/body", "", 200, `{"id":"body","modified":1795773502,"payload":"p"}`)
		c.expect("GET", "/1.1/bob/storage/w/url", "", 404, `"record not found"`)
		// Values strict MariaDB refuses vanish behind a 200.
		c.expect("PUT", "/1.1/bob/storage/w/pred", `{"predecessorid":"abc","payload":"p"}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/storage/w/pred", "", 404, `"record not found"`)
		c.expect("PUT", "/1.1/bob/storage/w/big", `{"payload":"`+strings.Repeat("z", 70000)+`"}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/storage/w/big", "", 404, `"record not found"`)
		c.expect("PUT", "/1.1/bob/storage/w/max", `{"payload":"`+strings.Repeat("z", 65535)+`"}`, 200, "1795773502")
		c.expect("GET", "/1.1/bob/info/collection_counts", "", 200, `{"forms":1,"tabs":3,"w":3}`)
		// Writes store the URL's spelling of the name; the account keeps its own.
		var wboName, userName string
		if err := srv.DB.QueryRow("SELECT username FROM wbo WHERE collection = 'w' AND id = 'x'").Scan(&wboName); err != nil {
			t.Fatal(err)
		}
		if err := srv.DB.QueryRow("SELECT username FROM users").Scan(&userName); err != nil {
			t.Fatal(err)
		}
		if wboName != "bob" || userName != "Bob" {
			t.Errorf("stored names %q (wbo), %q (users); want bob, Bob", wboName, userName)
		}
		// Errors.
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"payload":`, 400, "6")
		c.expect("PUT", "/1.1/bob/storage/w/x", `null`, 400, "6")
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"sortindex":"high","payload":"p"}`, 400, "6")
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"sortindex":null}`, 400, "6")
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"payload":5}`, 400, "8")
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"sortindex":1000000000,"payload":"p"}`, 400, "8")
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"id":"a/b","payload":"p"}`, 400, "8")
		c.expect("PUT", "/1.1/bob/storage/w/"+strings.Repeat("i", 65), `{"payload":"p"}`, 400, "8")
		c.expect("PUT", "/1.1/bob/storage/w/x", `{"parentid":"`+strings.Repeat("i", 65)+`"}`, 400, "8")
	})

	t.Run("post", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		clk.set(179577360000)
		c.expect("POST", "/1.1/bob/storage/p",
			`[{"id":"ok","payload":"p"},{"id":"bad/id","payload":"p"},{"id":"s","sortindex":"x"},{"payload":"p"},"{\"id\":\"str\",\"payload\":\"q\"}",{"id":"pred","predecessorid":"no","payload":"p"},{"id":"big","payload":5,"parentid":"`+strings.Repeat("i", 65)+`"}]`,
			200, `{"success":["ok","str","pred"],"failed":{"bad\/id":["invalid id"],"s":["invalid sortindex"],"":["invalid id"],"big":["invalid parentid","payload needs to be json-encoded"]}}`)
		c.expect("GET", "/1.1/bob/storage/p", "", 200, `["ok","str"]`)
		// PHP arrays keyed 0..n-1 encode as lists.
		c.expect("POST", "/1.1/bob/storage/p", `[{"id":"0","payload":"p"}]`, 200, `{"success":[],"failed":[["invalid id"]]}`)
		c.expect("POST", "/1.1/bob/storage/p", `[]`, 200, `{"success":[],"failed":[]}`)
		c.expect("POST", "/1.1/bob/storage/p", `[`, 400, "6")
		// No 100-record limit.
		var many []string
		for i := range 150 {
			many = append(many, fmt.Sprintf(`{"id":"m%d","payload":"p"}`, i))
		}
		a := c.do("POST", "/1.1/bob/storage/many", "["+strings.Join(many, ",")+"]")
		if a.status != 200 || strings.Count(a.body, `"m`) != 150 {
			t.Errorf("POST of 150 = %d %.80q", a.status, a.body)
		}
	})

	t.Run("unmodified", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		clk.set(179577370000)
		hdr := "X-If-Unmodified-Since"
		c.expect("PUT", "/1.1/bob/storage/tabs/n", `{"payload":"p"}`, 412, "4", hdr, "1795773300.19")
		c.expect("POST", "/1.1/bob/storage/tabs", `[]`, 412, "4", hdr, "1795773300")
		c.expect("DELETE", "/1.1/bob/storage/tabs/a", "", 412, "4", hdr, "1")
		c.expect("GET", "/1.1/bob/storage/tabs/b", "", 200, `{"id":"b","modified":1795773300,"payload":"y"}`, hdr, "1")
		c.expect("POST", "/1.1/bob/storage/tabs", `[]`, 200, `{"success":[],"failed":[]}`, hdr, "1795773300.2")
		c.expect("POST", "/1.1/bob/storage/empty", `[]`, 200, `{"success":[],"failed":[]}`, hdr, "0")
	})

	t.Run("deletes", func(t *testing.T) {
		c := &client{t: t, base: srv.URL, user: "bob", pw: "pw"}
		clk.set(179577380000)
		// sort/limit/offset make FSyncMS delete nothing.
		for _, q := range []string{"?sort=index", "?limit=1", "?offset=1&ids=c"} {
			c.expect("DELETE", "/1.1/bob/storage/tabs"+q, "", 200, "1795773800")
		}
		c.expect("GET", "/1.1/bob/storage/tabs", "", 200, `["a","b","c"]`)
		c.expect("DELETE", "/1.1/bob/storage/tabs?newer=1795773300.05", "", 200, "1795773800")
		c.expect("GET", "/1.1/bob/storage/tabs", "", 200, `["b"]`)
		c.expect("DELETE", "/1.1/bob/storage/tabs/b", "", 200, "1795773800")
		c.expect("DELETE", "/1.1/bob/storage/tabs/b", "", 200, "1795773800")
		c.expect("DELETE", "/1.1/bob/storage", "", 412, "4")
		c.expect("DELETE", "/1.1/bob/storage", "", 200, "1795773800", "X-Confirm-Delete", "")
		c.expect("GET", "/1.1/bob/info/collections", "", 200, "[]")
		c.expect("GET", "/1.1/bob/info/quota", "", 200, "[0]")
	})

}

func TestUserAPI(t *testing.T) {
	clk := &clock{cs: 179577337600}
	srv := StartServer(t, ServerOptions{EnableRegister: true, Root: "https://sync.example.com:8443/fsyncms/", Clock: clk.now})
	c := &client{t: t, base: srv.URL + "/fsyncms"}

	a := c.expect("GET", "/misc/1.0/captcha_html", "", 200, "And click to the next page")
	if got := a.header.Get("Content-Type"); got != "text/html; charset=UTF-8" {
		t.Errorf("captcha Content-Type = %q", got)
	}
	c.expect("GET", "/user/2.0/carol", "", 404, `"Function not found"`)
	c.expect("GET", "/user/1.0/car%20ol", "", 400, "3")
	c.expect("PUT", "/user/1.0/carol", `{"password":"pw"}`, 400, "12")
	c.expect("PUT", "/user/1.0/carol", `{"email":"c@example.com","password":""}`, 400, "7")
	c.expect("PUT", "/user/1.0/carol", `{}`, 400, "6")
	c.expect("PUT", "/user/1.0/carol", `nope`, 400, "6")
	c.expect("PUT", "/user/1.0/Carol", `{"password":"pw","email":"c@example.com"}`, 200, `"carol"`)
	// A second registration changes nothing and still says 200.
	c.expect("PUT", "/user/1.0/carol", `{"password":"other","email":"c@example.com"}`, 200, `"carol"`)
	var hash string
	if err := srv.DB.QueryRow("SELECT md5 FROM users WHERE username = 'carol'").Scan(&hash); err != nil || hash != md5hex("pw") {
		t.Errorf("hash after re-registration = %q, %v", hash, err)
	}
	c.expect("GET", "/user/1.0/carol", "", 200, "1")
	c.expect("GET", "/user/1.0/carol/node/weave", "", 200, "https://sync.example.com/fsyncms/")
	c.expect("GET", "/user/1.0/carol/password_reset", "", 400, "12")
	c.expect("GET", "/user/1.0/carol/other", "", 400, "1")
	c.expect("POST", "/user/1.0/carol/email", "x", 200, "")
	c.expect("DELETE", "/user/1.0/carol", "", 200, "")
	c.expect("GET", "/user/1.0/carol", "", 200, "1")

	c.expect("POST", "/user/1.0/carol/password", "new", 401, `"Authentication failed"`)
	c.user, c.pw = "carol", "pw"
	a = c.expect("POST", "/user/1.0/carol/password", "n3w pw", 200, "success")
	if got := a.header.Get("Content-Type"); got != "application/json" {
		t.Errorf("password change Content-Type = %q", got)
	}
	c.expect("GET", "/1.1/carol/info/collections", "", 401, `"Authentication failed"`)
	c.pw = "n3w pw"
	c.expect("GET", "/1.1/carol/info/collections", "", 200, "[]")

	closed := StartServer(t, ServerOptions{})
	cl := &client{t: t, base: closed.URL}
	cl.expect("PUT", "/user/1.0/dave", `{"password":"pw","email":"d@example.com"}`, 400, "11")
	cl.expect("GET", "/misc/1.0/captcha_html", "", 200, "Register to this Server is not permitted, sorry")
}

func TestPasswordHashes(t *testing.T) {
	bcryptOf := func(pw string, cost int) string {
		h, err := (&server{opts: ServerOptions{BcryptCost: cost}}).hash(pw)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	stored := func(srv *Server, name string) string {
		var h string
		if err := srv.DB.QueryRow("SELECT md5 FROM "+srv.Layout.UsersTable()+" WHERE username = ?", name).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	insert := func(srv *Server, name, hash string) {
		if err := Insert(context.Background(), srv.DB, srv.Layout, []User{{Name: name, PasswordHash: hash}}); err != nil {
			t.Fatal(err)
		}
	}

	// md5 installs cannot check bcrypt hashes.
	md5srv := StartServer(t, ServerOptions{})
	insert(md5srv, "m", md5hex("pw"))
	insert(md5srv, "b", bcryptOf("pw", 4))
	(&client{t: t, base: md5srv.URL, user: "m", pw: "pw"}).expect("GET", "/1.1/m/info/collections", "", 200, "[]")
	(&client{t: t, base: md5srv.URL, user: "b", pw: "pw"}).expect("GET", "/1.1/b/info/collections", "", 401, `"Authentication failed"`)

	// BCRYPT=true: md5 and other-cost hashes are upgraded on login; with
	// a table prefix.
	bsrv := StartServer(t, ServerOptions{Prefix: "fs", BcryptCost: 4, EnableRegister: true, Clock: (&clock{cs: 179577337500}).now})
	insert(bsrv, "m", md5hex("pw"))
	insert(bsrv, "b5", bcryptOf("pw", 5))
	for _, u := range []string{"m", "b5"} {
		c := &client{t: t, base: bsrv.URL, user: u, pw: "pw"}
		c.expect("GET", "/1.1/"+u+"/info/collections", "", 200, "[]")
		if h := stored(bsrv, u); !strings.HasPrefix(h, "$2a$04$") {
			t.Errorf("%s's hash after login = %.7s…, want $2a$04$", u, h)
		}
		c.expect("GET", "/1.1/"+u+"/info/collections", "", 200, "[]")
		(&client{t: t, base: bsrv.URL, user: u, pw: "bad"}).expect("GET", "/1.1/"+u+"/info/collections", "", 401, `"Authentication failed"`)
	}
	c := &client{t: t, base: bsrv.URL}
	c.expect("PUT", "/user/1.0/new", `{"password":"pw","email":"n@example.com"}`, 200, `"new"`)
	if h := stored(bsrv, "new"); !strings.HasPrefix(h, "$2a$04$") {
		t.Errorf("registered hash = %.7s…, want $2a$04$", h)
	}
	c.user, c.pw = "new", "pw"
	c.expect("PUT", "/1.1/new/storage/c/i", `{"payload":"p"}`, 200, "1795773375")
	var n int
	if err := bsrv.DB.QueryRow("SELECT COUNT(*) FROM fs_wbo").Scan(&n); err != nil || n != 1 {
		t.Errorf("fs_wbo rows = %d, %v", n, err)
	}
}

func TestStopRestart(t *testing.T) {
	srv := StartServer(t)
	c := &client{t: t, base: srv.URL}
	c.expect("GET", "/user/1.0/x", "", 200, "0")

	srv.Stop()
	if _, err := http.Get(srv.URL + "/user/1.0/x"); err == nil {
		t.Fatal("request to a stopped server succeeded")
	}
	srv.Stop() // idempotent
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(); err == nil {
		t.Error("Restart of a running server succeeded")
	}
	c.expect("GET", "/user/1.0/x", "", 200, "0")

	// A slow upstream, then one that dies with the request in flight.
	srv.SetDelay(time.Minute)
	quick := &http.Client{Timeout: 100 * time.Millisecond}
	if _, err := quick.Get(srv.URL + "/user/1.0/x"); err == nil {
		t.Error("delayed request answered within 100ms")
	}
	done := make(chan error, 1)
	go func() {
		_, err := http.Get(srv.URL + "/user/1.0/x")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	srv.Stop()
	if err := <-done; err == nil {
		t.Error("request in flight was answered by a stopped server")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v with a request in flight", d)
	}
	srv.SetDelay(0)
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	c.expect("GET", "/user/1.0/x", "", 200, "0")
}

func TestListenAndServe(t *testing.T) {
	name, db := NewDatabase(t, "leg_", "")
	dsn := DSN(t, name)
	// Twice: the second run finds the tables and keeps their rows.
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		addr := freeAddr(t)
		done := make(chan error, 1)
		go func() { done <- ListenAndServe(ctx, addr, dsn, ServerOptions{EnableRegister: true}) }()
		c := &client{t: t, base: "http://" + addr}
		var a answer
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			resp, err := http.Get(c.base + "/user/1.0/eve")
			if err == nil {
				resp.Body.Close()
				break
			}
		}
		if round == 0 {
			c.expect("PUT", "/user/1.0/eve", `{"password":"pw","email":"e@example.com"}`, 200, `"eve"`)
		}
		a = c.expect("GET", "/user/1.0/eve", "", 200, "1")
		if a.status != 200 {
			t.Fatalf("round %d: server not answering", round)
		}
		c.expect("GET", "/user/1.0/eve/node/weave", "", 200, "http://127.0.0.1/")
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("ListenAndServe: %v", err)
		}
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM users").Scan(&n); err != nil || n != 1 {
		t.Errorf("users = %d, %v", n, err)
	}
	if _, err := db.Exec("DROP TABLE wbo"); err != nil {
		t.Fatal(err)
	}
	if err := ListenAndServe(context.Background(), freeAddr(t), dsn, ServerOptions{}); err == nil || !strings.Contains(err.Error(), "only some") {
		t.Errorf("ListenAndServe with half a schema = %v", err)
	}
}

// freeAddr is a loopback address on a port held for the test, so that
// nothing else takes it before the server binds it.
func freeAddr(t *testing.T) string {
	t.Helper()
	return testservices.ReservePort(t).Addr()
}

func TestPHPFormatting(t *testing.T) {
	for f, want := range map[float64]string{
		1795773376: "1795773376", 1795773375.6: "1795773375.6", 1795773374.68: "1795773374.68",
		0: "0", -1.5: "-1.5", 0.0001: "0.0001", 12345678901234.56: "12345678901235",
	} {
		if got := phpFloat(f, 14); got != want {
			t.Errorf("phpFloat(%v, 14) = %q, want %q", f, got, want)
		}
	}
	tenth, fifth := 0.1, 0.2
	if got := phpFloat(tenth+fifth, -1); got != "0.30000000000000004" {
		t.Errorf("json float = %q", got)
	}
	if got := phpFloat(tenth+fifth, 14); got != "0.3" {
		t.Errorf("string float = %q", got)
	}
	if b, ok := jsonString(nil, "a/\"\\\x01\x7fé😀"); !ok || string(b) != `"a\/\"\\\u0001`+"\x7f"+`\u00e9\ud83d\ude00"` {
		t.Errorf("jsonString = %s, %v", b, ok)
	}
	if _, ok := jsonString(nil, "\xff"); ok {
		t.Error("jsonString accepted invalid UTF-8")
	}
	for v, want := range map[string]string{`1.0`: "1", `10`: "10", `1e2`: "100", `true`: "1", `false`: "", `[1]`: "Array", `"s"`: "s"} {
		x, _ := decodeJSON([]byte(v))
		if got := phpString(x); got != want {
			t.Errorf("phpString(%s) = %q, want %q", v, got, want)
		}
	}
	if string(fixUTF8([]byte("caf\xe9"))) != "café" {
		t.Error("fixUTF8 did not convert Latin-1")
	}
}
