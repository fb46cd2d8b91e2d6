package httpapi_test

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base32"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// aliceHash is the username Firefox derives from alice@example.com
// (docs/protocol.md §2.3).
const aliceHash = "7qrzrjz52vgwen6e7w2y7v6xknd46wxt"

func createBody(email, password string) string {
	return fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
}

func TestUserExists(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		e.do(http.MethodGet, "/user/1.0/alice", "").expect(http.StatusOK, "0").
			expectHeader("Content-Type", "text/plain; charset=utf-8")
		e.addUser("alice", "password-alice")
		e.do(http.MethodGet, "/user/1.0/alice", "").expect(http.StatusOK, "1")
		e.do(http.MethodGet, "/user/1/ALICE", "").expect(http.StatusOK, "1")
		e.do(http.MethodGet, "/user/1.0/bad%20name", "").expect(http.StatusNotFound, "not found")
	})
}

func TestCreateUser(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		e.do(http.MethodPut, "/user/1.0/"+aliceHash, createBody("alice@example.com", "correct horse")).
			expect(http.StatusOK, aliceHash).
			expectHeader("Content-Type", "text/plain; charset=utf-8")
		e.do(http.MethodGet, "/user/1.0/"+aliceHash, "").expect(http.StatusOK, "1")
		u, err := e.store.LookupUser(context.Background(), aliceHash)
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "alice@example.com" || u.Name != aliceHash {
			t.Errorf("stored user %+v", u)
		}
		e.do(http.MethodGet, "/1.1/"+aliceHash+"/info/collections", "", basicAuth(aliceHash, "correct horse")).
			expect(http.StatusOK, "{}")
		// Taken now.
		e.do(http.MethodPut, "/user/1.0/"+aliceHash, createBody("alice@example.com", "correct horse")).
			expect(http.StatusBadRequest, "4")
		// The answer is the lower-cased username; e-mail case does not matter.
		bob := httpapi.UsernameFromEmail("bob@example.com")
		e.do(http.MethodPut, "/user/1.0/"+strings.ToUpper(bob), createBody("Bob@Example.COM", "correct horse")).
			expect(http.StatusOK, bob)
		e.do(http.MethodGet, "/user/1.0/"+bob, "").expect(http.StatusOK, "1")
		// The 1.0 documents' "e-mail" key works too.
		carol := httpapi.UsernameFromEmail("carol@example.com")
		e.do(http.MethodPut, "/user/1/"+carol, `{"e-mail":"carol@example.com","password":"correct horse"}`).
			expect(http.StatusOK, carol)
	})
}

func TestCreateUserChecks(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		e.addUser(aliceHash, "password-alice")
		dave := httpapi.UsernameFromEmail("dave@example.com")
		long := strings.Repeat("p", 73)
		for _, tc := range []struct {
			user, body, code string
		}{
			// Checks run in the Reference's order: exists, JSON, e-mail,
			// e-mail/username match, password present, password strong.
			{aliceHash, "not json", "4"},
			{dave, "not json", "6"},
			{dave, "", "6"},
			{dave, "[1]", "6"},
			{dave, `"x"`, "6"},
			{dave, "null", "6"},
			{dave, `{"password":"correct horse"}`, "12"},
			{dave, `{"email":"","password":"correct horse"}`, "12"},
			{dave, `{"email":5,"password":"correct horse"}`, "12"},
			{dave, `{"email":"dave","password":"correct horse"}`, "12"},
			{dave, `{"email":"dave@example"}`, "12"},
			{dave, createBody("erin@example.com", "correct horse"), "15"},
			{dave, `{"email":"erin@example.com"}`, "15"},
			{dave, `{"email":"dave@example.com"}`, "7"},
			{dave, `{"email":"dave@example.com","password":""}`, "7"},
			{dave, `{"email":"dave@example.com","password":12345678}`, "7"},
			{dave, createBody("dave@example.com", "short"), "9"},
			{dave, createBody("dave@example.com", "1234567"), "9"},
			{dave, createBody("dave@example.com", dave), "9"},
			{dave, createBody("dave@example.com", " "+strings.ToUpper(dave)+" "), "9"},
			{dave, createBody("dave@example.com", long), "9"},
			{"plainname", createBody("dave@example.com", "correct horse"), "15"},
		} {
			e.do(http.MethodPut, "/user/1.0/"+tc.user, tc.body).expect(http.StatusBadRequest, tc.code).
				expectHeader("Content-Type", "application/json")
		}
		e.do(http.MethodGet, "/user/1.0/"+dave, "").expect(http.StatusOK, "0")
		// Eight bytes is enough.
		e.do(http.MethodPut, "/user/1.0/"+dave, createBody("dave@example.com", "12345678")).expect(http.StatusOK, dave)
	})
}

func TestCreateUserEmailForms(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		for _, email := range []string{
			"a.b+tag@example.co.uk",
			"x@127.0.0.1",
			`"john doe"@example.com`,
			"o'brien@example.ie",
			"idn@bücher.example",
			"user@xn--bcher-kva.xn--p1ai",
		} {
			u := httpapi.UsernameFromEmail(email)
			e.do(http.MethodPut, "/user/1.0/"+u, createBody(email, "correct horse")).expect(http.StatusOK, u)
		}
		for _, email := range []string{
			"a@b", "a@b.c", "a..b@example.com", ".a@example.com", "@example.com", "a@", "a b@example.com",
			"a@exa_mple.com", "a@example..com", "a@-.com", "a<b>@example.com", "a@b.c0m",
			strings.Repeat("a", 250) + "@example.com",
		} {
			u := httpapi.UsernameFromEmail(email)
			e.do(http.MethodPut, "/user/1.0/"+u, createBody(email, "correct horse")).expect(http.StatusBadRequest, "12")
		}
	})
}

func TestCreateUserPlainUsernames(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.AllowPlainUsernames = true }, func(t *testing.T, e *env) {
		e.do(http.MethodPut, "/user/1.0/Bob", createBody("someone@example.com", "correct horse")).expect(http.StatusOK, "bob")
		e.do(http.MethodGet, "/1.1/bob/info/collections", "", basicAuth("bob", "correct horse")).expect(http.StatusOK, "{}")
		// The e-mail is still required and checked.
		e.do(http.MethodPut, "/user/1.0/carol", `{"password":"correct horse"}`).expect(http.StatusBadRequest, "12")
	})
}

func TestRegistrationClosed(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.Registration = httpapi.RegistrationClosed }, func(t *testing.T, e *env) {
		e.do(http.MethodPut, "/user/1.0/"+aliceHash, createBody("alice@example.com", "correct horse")).
			expect(http.StatusBadRequest, "3")
		e.do(http.MethodGet, "/user/1.0/"+aliceHash, "").expect(http.StatusOK, "0")
	})
}

func TestRegistrationAllowlist(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) {
		c.Registration = httpapi.RegistrationAllowlist
		c.Allowlist = []string{"alice@example.com", "Carol", "Dave@Example.COM"}
		c.AllowPlainUsernames = true
	}, func(t *testing.T, e *env) {
		e.do(http.MethodPut, "/user/1.0/"+aliceHash, createBody("alice@example.com", "correct horse")).expect(http.StatusOK, aliceHash)
		e.do(http.MethodPut, "/user/1.0/carol", createBody("carol@example.org", "correct horse")).expect(http.StatusOK, "carol")
		// A plain username registering with an allowlisted address.
		e.do(http.MethodPut, "/user/1.0/dave", createBody("dave@example.com", "correct horse")).expect(http.StatusOK, "dave")
		dave := httpapi.UsernameFromEmail("dave@example.com")
		e.do(http.MethodPut, "/user/1.0/"+dave, createBody("dave@example.com", "correct horse")).expect(http.StatusOK, dave)
		// Everyone else is refused, before the password is looked at.
		e.do(http.MethodPut, "/user/1.0/eve", createBody("eve@example.com", "correct horse")).expect(http.StatusBadRequest, "3")
		eve := httpapi.UsernameFromEmail("eve@example.com")
		e.do(http.MethodPut, "/user/1.0/"+eve, createBody("eve@example.com", "x")).expect(http.StatusBadRequest, "3")
		e.do(http.MethodGet, "/user/1.0/eve", "").expect(http.StatusOK, "0")
	})
}

// captchaServer stands in for the reCAPTCHA verification service: it
// accepts challenge "chal" with response "good" (v1 text answer) or
// "json-good" (JSON answer) for private key "private".
type captchaServer struct {
	*httptest.Server
	mu      sync.Mutex
	remotes []string
}

func newCaptchaServer(t *testing.T) *captchaServer {
	cs := &captchaServer{}
	cs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		cs.mu.Lock()
		cs.remotes = append(cs.remotes, r.PostForm.Get("remoteip"))
		cs.mu.Unlock()
		ok := r.PostForm.Get("privatekey") == "private" && r.PostForm.Get("challenge") == "chal"
		switch resp := r.PostForm.Get("response"); {
		case ok && resp == "good":
			fmt.Fprint(w, "true\n")
		case ok && resp == "json-good":
			fmt.Fprint(w, `{"success": true}`)
		case resp == "json-bad":
			fmt.Fprint(w, `{"success": false, "error-codes": ["invalid-input-response"]}`)
		default:
			fmt.Fprint(w, "false\nincorrect-captcha-sol")
		}
	}))
	t.Cleanup(cs.Close)
	return cs
}

func testCaptchaConfig(verifyURL string) *httpapi.CaptchaConfig {
	return &httpapi.CaptchaConfig{PublicKey: "public<&>key", PrivateKey: "private", VerifyURL: verifyURL}
}

func TestCaptcha(t *testing.T) {
	cs := newCaptchaServer(t)
	withEnv(t, func(c *httpapi.Config) {
		c.Captcha = testCaptchaConfig(cs.URL + "/verify")
		c.SharedSecret = "s3cret"
	}, func(t *testing.T, e *env) {
		withCaptcha := func(email, challenge, response string) string {
			return fmt.Sprintf(`{"email":%q,"password":"correct horse","captcha-challenge":%q,"captcha-response":%q}`,
				email, challenge, response)
		}
		u := func(email string) string { return "/user/1.0/" + httpapi.UsernameFromEmail(email) }

		e.do(http.MethodPut, u("a@example.com"), createBody("a@example.com", "correct horse")).expect(http.StatusBadRequest, "2")
		e.do(http.MethodPut, u("a@example.com"), `{"email":"a@example.com","password":"correct horse","captcha-challenge":"chal"}`).
			expect(http.StatusBadRequest, "2")
		e.do(http.MethodPut, u("a@example.com"), withCaptcha("a@example.com", "chal", "wrong")).expect(http.StatusBadRequest, "2")
		e.do(http.MethodPut, u("a@example.com"), withCaptcha("a@example.com", "other", "good")).expect(http.StatusBadRequest, "2")
		e.do(http.MethodPut, u("a@example.com"), withCaptcha("a@example.com", "chal", "json-bad")).expect(http.StatusBadRequest, "2")
		// A weak password is reported before the captcha is checked.
		e.do(http.MethodPut, u("a@example.com"), `{"email":"a@example.com","password":"short"}`).expect(http.StatusBadRequest, "9")
		e.do(http.MethodPut, u("a@example.com"), createBody("a@example.com", "correct horse"), header("X-Weave-Secret", "wrong")).
			expect(http.StatusBadRequest, "2")
		e.do(http.MethodGet, u("a@example.com"), "").expect(http.StatusOK, "0")

		e.do(http.MethodPut, u("a@example.com"), withCaptcha("a@example.com", "chal", "good")).
			expect(http.StatusOK, httpapi.UsernameFromEmail("a@example.com"))
		e.do(http.MethodPut, u("b@example.com"), withCaptcha("b@example.com", "chal", "json-good")).
			expect(http.StatusOK, httpapi.UsernameFromEmail("b@example.com"))
		e.do(http.MethodPut, u("c@example.com"), createBody("c@example.com", "correct horse"), header("X-Weave-Secret", "s3cret")).
			expect(http.StatusOK, httpapi.UsernameFromEmail("c@example.com"))
		cs.mu.Lock()
		if len(cs.remotes) == 0 || cs.remotes[0] != "192.0.2.1" {
			t.Errorf("remote addresses sent to the captcha service: %q", cs.remotes)
		}
		cs.mu.Unlock()

		for _, m := range []string{http.MethodGet, http.MethodPost} {
			r := e.do(m, "/misc/1.0/captcha_html", "").expectStatus(http.StatusOK).
				expectHeader("Content-Type", "text/html; charset=utf-8")
			if !strings.Contains(r.body, "recaptcha/api/challenge?k=public%3C%26%3Ekey") {
				t.Errorf("captcha page does not carry the escaped public key:\n%s", r.body)
			}
		}
	})
	// A captcha service that cannot be reached is a server problem.
	withEnv(t, func(c *httpapi.Config) { c.Captcha = testCaptchaConfig("http://127.0.0.1:1/verify") }, func(t *testing.T, e *env) {
		e.do(http.MethodPut, "/user/1.0/"+aliceHash,
			`{"email":"alice@example.com","password":"correct horse","captcha-challenge":"chal","captcha-response":"good"}`).
			expect(http.StatusServiceUnavailable, `"server issue: captcha service unavailable"`).
			expectHeader("Retry-After", "1800")
	})
}

func TestDeleteUser(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		alice.mustPut("storage/bookmarks/a", `{"payload":"x"}`)
		bob.mustPut("storage/bookmarks/b", `{"payload":"y"}`)
		// Warm the credentials cache, which deletion must clear.
		alice.get("info/collections").expectStatus(http.StatusOK)

		e.do(http.MethodDelete, "/user/1.0/alice", "").expectStatus(http.StatusUnauthorized)
		e.do(http.MethodDelete, "/user/1.0/alice", "", basicAuth("alice", "wrong")).expectStatus(http.StatusUnauthorized)
		e.do(http.MethodDelete, "/user/1.0/alice", "", basicAuth("bob", bob.password)).expectStatus(http.StatusUnauthorized)
		e.do(http.MethodGet, "/user/1.0/alice", "").expect(http.StatusOK, "1")

		e.do(http.MethodDelete, "/user/1.0/alice", "", basicAuth("alice", alice.password)).
			expect(http.StatusOK, "0").expectHeader("Content-Type", "text/plain; charset=utf-8")
		e.do(http.MethodGet, "/user/1.0/alice", "").expect(http.StatusOK, "0")
		alice.get("info/collections").expectStatus(http.StatusUnauthorized)
		bob.get("storage/bookmarks").expectJSON(http.StatusOK, `["b"]`)
		// A new account of the same name starts empty.
		e.addUser("alice", alice.password)
		alice.get("info/collections").expect(http.StatusOK, "{}")
		alice.get("storage/bookmarks/a").expectStatus(http.StatusNotFound)
	})
}

func TestUserNode(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		e.do(http.MethodGet, "/user/1.0/alice/node/weave", "").
			expect(http.StatusOK, "https://sync.example.com/").
			expectHeader("Content-Type", "text/plain; charset=utf-8")
		e.do(http.MethodGet, "/user/1/ALICE/node/weave", "", basicAuth(c.name, "ignored")).expect(http.StatusOK, "https://sync.example.com/")
		e.do(http.MethodGet, "/user/1.0/nobody/node/weave", "").expect(http.StatusNotFound, "not found")
	})
	withEnv(t, func(c *httpapi.Config) { c.PublicURL = "" }, func(t *testing.T, e *env) {
		e.user("alice")
		e.do(http.MethodGet, "/user/1.0/alice/node/weave", "").expect(http.StatusOK, "http://example.com/")
		e.do(http.MethodGet, "/user/1.0/alice/node/weave", "", func(r *http.Request) {
			r.Host = "sync.example.org:8443"
			r.TLS = &tls.ConnectionState{}
		}).expect(http.StatusOK, "https://sync.example.org:8443/")
		e.do(http.MethodGet, "/user/1.0/alice/node/weave", "", func(r *http.Request) { r.Host = "" }).
			expectJSON(http.StatusOK, "null")
	})
	withEnv(t, func(c *httpapi.Config) { c.PublicURL = "https://sync.example.com/prefix" }, func(t *testing.T, e *env) {
		e.user("alice")
		e.do(http.MethodGet, "/user/1.0/alice/node/weave", "").expect(http.StatusOK, "https://sync.example.com/prefix/")
	})
}

func TestChangePassword(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("longusername")
		old := c.password
		url := "/user/1.0/longusername/password"
		c.get("info/collections").expectStatus(http.StatusOK) // cache the old password

		e.do(http.MethodPost, url, "new password 1").expectStatus(http.StatusUnauthorized).
			expectHeader("WWW-Authenticate", `Basic realm="Sync"`)
		e.do(http.MethodPost, url, "new password 1", basicAuth("longusername", "wrong")).expectStatus(http.StatusUnauthorized)
		for _, tc := range []struct{ body, code string }{
			{"", "7"},
			{"bad utf8 \xff\xfe", "7"},
			{"short", "9"},
			{"LongUserName", "9"},
			{strings.Repeat("p", 73), "9"},
		} {
			e.do(http.MethodPost, url, tc.body, basicAuth("longusername", old)).expect(http.StatusBadRequest, tc.code)
		}
		// Reset codes are never issued here.
		e.do(http.MethodPost, url, "new password 1", header("X-Weave-Password-Reset", "ABCD-EFGH-IJKL-MNOP")).
			expect(http.StatusBadRequest, "10")
		e.do(http.MethodPost, "/user/1.0/nobody/password", "new password 1", header("X-Weave-Password-Reset", "ABCD")).
			expect(http.StatusNotFound, "not found")
		c.get("info/collections").expectStatus(http.StatusOK)

		e.do(http.MethodPost, url, "new password 1", basicAuth("longusername", old)).
			expect(http.StatusOK, "success").expectHeader("Content-Type", "text/plain; charset=utf-8")
		c.get("info/collections").expectStatus(http.StatusUnauthorized)
		c.password = "new password 1"
		c.get("info/collections").expect(http.StatusOK, "{}")
		u, err := e.store.LookupUser(context.Background(), "longusername")
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "longusername@example.com" {
			t.Errorf("e-mail after password change = %q", u.Email)
		}
	})
}

func TestChangeEmail(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		url := "/user/1.0/alice/email"
		e.do(http.MethodPost, url, "new@example.org").expectStatus(http.StatusUnauthorized)
		e.do(http.MethodPost, url, "not an address", basicAuth("alice", c.password)).expect(http.StatusBadRequest, "12")
		e.do(http.MethodPost, url, "", basicAuth("alice", c.password)).expect(http.StatusBadRequest, "12")
		e.do(http.MethodPost, url, "new@example.org\n", basicAuth("alice", c.password)).
			expect(http.StatusOK, "new@example.org").expectHeader("Content-Type", "text/plain; charset=utf-8")
		u, err := e.store.LookupUser(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "new@example.org" {
			t.Errorf("e-mail = %q", u.Email)
		}
		// The password hash was not touched.
		if ok, _, err := e.auth.VerifyPassword(u.PasswordHash, c.password); !ok || err != nil {
			t.Errorf("password no longer verifies after an e-mail change: %v", err)
		}
		c.get("info/collections").expectStatus(http.StatusOK)
	})
}

func TestPasswordReset(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		r := e.do(http.MethodGet, "/user/1.0/alice/password_reset", "").
			expect(http.StatusServiceUnavailable, `"password reset is not available on this server; ask its operator"`)
		for _, h := range []string{"Retry-After", "X-Weave-Backoff"} {
			if v, ok := r.header[h]; ok {
				t.Errorf("%s: %q on the password reset answer", h, v)
			}
		}
		e.do(http.MethodDelete, "/user/1.0/alice/password_reset", "").expectStatus(http.StatusUnauthorized)
		e.do(http.MethodDelete, "/user/1.0/alice/password_reset", "", basicAuth("alice", c.password)).
			expect(http.StatusOK, "success")
	})
}

func TestUsernameFromEmail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@example.com", aliceHash},
		{"Alice@Example.COM", aliceHash},
		// The domain goes through IDNA first, as in the Reference:
		// bücher.example is xn--bcher-kva.example.
		{"bob@bücher.example", hashOf("bob@xn--bcher-kva.example")},
		{"bob@BÜCHER.example", hashOf("bob@xn--bcher-kva.example")},
		{"john doe", hashOf("john doe")},
		{"LegacyName", "legacyname"},
		{"a.b_c-d", "a.b_c-d"},
		{"", ""},
	} {
		if got := httpapi.UsernameFromEmail(tc.in); got != tc.want {
			t.Errorf("UsernameFromEmail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, email := range []string{"x@example.com", "ünïcode@example.com", "a@b"} {
		if got := httpapi.UsernameFromEmail(email); len(got) != 32 || !syncstore.ValidUsername(got) {
			t.Errorf("UsernameFromEmail(%q) = %q: not a 32-character username", email, got)
		}
	}
}

// hashOf is §2.3's hash of an already canonical (lower-case, ASCII
// domain) address.
func hashOf(s string) string {
	sum := sha1.Sum([]byte(s))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:]))
}

// docs/protocol.md §8.9: with a captcha configured,
// cancelling a password reset checks it too, from the query parameters,
// after the credentials.
func TestPasswordResetCancelChecksCaptcha(t *testing.T) {
	cs := newCaptchaServer(t)
	withEnv(t, func(c *httpapi.Config) { c.Captcha = testCaptchaConfig(cs.URL + "/verify") }, func(t *testing.T, e *env) {
		c := e.user("alice")
		url := "/user/1.0/alice/password_reset"
		auth := basicAuth("alice", c.password)
		e.do(http.MethodDelete, url+"?captcha-challenge=chal&captcha-response=good", "").
			expectStatus(http.StatusUnauthorized)
		e.do(http.MethodDelete, url, "", auth).expect(http.StatusBadRequest, "2").
			expectHeader("Content-Type", "application/json")
		e.do(http.MethodDelete, url+"?captcha-challenge=chal", "", auth).expect(http.StatusBadRequest, "2")
		e.do(http.MethodDelete, url+"?captcha-challenge=chal&captcha-response=wrong", "", auth).
			expect(http.StatusBadRequest, "2")
		e.do(http.MethodDelete, url+"?captcha-challenge=chal&captcha-response=good", "", auth).
			expect(http.StatusOK, "success").expectHeader("Content-Type", "text/plain; charset=utf-8")
	})
}

// docs/protocol.md §8.3 rule 9: the captcha is verified with the client's IP
// address, the one a proxy in front reported (ClientAddr), as the login
// throttle uses, not the proxy's.
func TestCaptchaVerifiedWithClientAddr(t *testing.T) {
	cs := newCaptchaServer(t)
	withEnv(t, func(c *httpapi.Config) {
		c.Captcha = testCaptchaConfig(cs.URL + "/verify")
		c.ClientAddr = func(*http.Request) string { return "198.51.100.7" }
	}, func(t *testing.T, e *env) {
		e.do(http.MethodPut, "/user/1.0/"+aliceHash,
			`{"email":"alice@example.com","password":"correct horse","captcha-challenge":"chal","captcha-response":"good"}`).
			expect(http.StatusOK, aliceHash)
		cs.mu.Lock()
		defer cs.mu.Unlock()
		if len(cs.remotes) == 0 || cs.remotes[len(cs.remotes)-1] != "198.51.100.7" {
			t.Errorf("remote addresses sent to the captcha service: %q, want the client's 198.51.100.7", cs.remotes)
		}
	})
}
