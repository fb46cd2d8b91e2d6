package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// wrapBody replaces the request body with a wrapper, as Caddy's server
// does for its read idle timeout. net/http then no longer sees its own
// body type after the handler and drains up to 256 KiB of what the client
// has not sent before it writes the answer.
func wrapBody(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = struct{ io.ReadCloser }{r.Body}
		h.ServeHTTP(w, r)
	})
}

// rawExchange sends head and body on a fresh connection and reads one
// answer, failing if none comes within a few seconds.
func rawExchange(t *testing.T, addr, head, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, head+"\r\n"+body); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", strings.SplitN(head, "\r\n", 2)[0], err)
	}
	return res, string(b)
}

// A body over max_request_bytes is refused "before it is read"
// (docs/protocol.md §7.1, code 17): the answer must come at once, also to
// a client that waits for it before sending the rest (Expect:
// 100-continue, or a stalled upload), and behind Caddy, whose body wrapper
// would otherwise make net/http drain the body first. The connection is
// closed after the answer: what remains on it is unread body.
func TestOversizedBodyAnsweredAtOnce(t *testing.T) {
	withEnv(t, func(c *httpapi.Config) { c.MaxRequestBytes = 1000; c.BodyBudgetBytes = 1000 }, func(t *testing.T, e *env) {
		c := e.user("alice")
		srv := httptest.NewServer(wrapBody(e.h))
		defer srv.Close()
		addr := srv.Listener.Addr().String()
		auth := "Authorization: " + basic(c.name+":"+c.password) + "\r\n"
		post := "POST " + c.url("storage/history") + " HTTP/1.1\r\nHost: x\r\n"
		for _, tc := range []struct {
			name, head, body string
			code             int
			want             string
		}{
			{"declared length over the limit", post + auth + "Content-Length: 300000\r\n", "[", 400, "17"},
			{"huge declared length", post + auth + "Content-Length: 999999999999\r\n", "[", 400, "17"},
			{"expect 100-continue", post + auth + "Expect: 100-continue\r\nContent-Length: 5000000\r\n", "", 400, "17"},
			{"chunked body over the limit, then stalled", post + auth + "Transfer-Encoding: chunked\r\n",
				fmt.Sprintf("%x\r\n[%s\r\n", 1001, strings.Repeat(" ", 1000)), 400, "17"},
			{"unauthenticated, declared length over the limit", post + "Authorization: " + basic(c.name+":wrong") + "\r\nContent-Length: 5000000\r\n", "[", 401, "authentication failed"},
			{"registration, declared length over the limit", "PUT /user/1.0/bob HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n", "{", 400, "17"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, body := rawExchange(t, addr, tc.head, tc.body)
				if res.StatusCode != tc.code || body != tc.want {
					t.Errorf("got %d %q, want %d %q", res.StatusCode, body, tc.code, tc.want)
				}
				if !res.Close {
					t.Errorf("the connection stays open with the unread body on it")
				}
			})
		}
		// A body just over the limit that arrives whole is drained, as
		// net/http does, and its connection kept.
		res, body := rawExchange(t, addr, post+auth+"Content-Length: 1001\r\n", "["+strings.Repeat(" ", 999)+"]")
		if res.StatusCode != http.StatusBadRequest || body != "17" || res.Close {
			t.Errorf("a body just over the limit: %d %q, close %v; want 400 \"17\", kept", res.StatusCode, body, res.Close)
		}
		// Nothing was written, and an ordinary upload still works on a
		// kept-alive connection.
		c.get("storage/history").expectJSON(http.StatusOK, `[]`)
		res, body = rawExchange(t, addr, post+auth+"Content-Length: 26\r\n", `[{"id":"a","payload":"x"}]`)
		if res.StatusCode != http.StatusOK || res.Close {
			t.Errorf("ordinary upload: %d %q, close %v", res.StatusCode, body, res.Close)
		}
	})
}

// The body budget bounds the memory of uploads; User API bodies (a
// password, an e-mail address, a registration of a few hundred bytes)
// must not take part in it. POST /user/1.0/<u>/password reads its body
// before any credentials are checked, and registration needs none: if
// their bodies held the budget, clients without an account could stall
// a few dozen such bodies and leave every upload of every user 503 "too
// many uploads in progress" (docs/protocol.md §7.1, §7.3).
func TestUserAPIBodiesHoldNoUploadBudget(t *testing.T) {
	withEnv(t, smallBodies(1000), func(t *testing.T, e *env) {
		c := e.user("alice")
		for _, stalled := range []struct{ method, target string }{
			{http.MethodPost, "/user/1.0/alice/password"},
			{http.MethodPost, "/user/1.0/nobody/password"},
			{http.MethodPut, "/user/1.0/mallory"},
			{http.MethodPost, "/user/1.0/alice/email"},
		} {
			t.Run(stalled.method+" "+stalled.target, func(t *testing.T) {
				pr, pw := io.Pipe()
				slow := httptest.NewRequest(stalled.method, stalled.target, pr)
				slow.ContentLength = -1 // chunked: counted at the largest size
				slow.SetBasicAuth(c.name, c.password)
				done := make(chan int)
				go func() {
					w := httptest.NewRecorder()
					e.h.ServeHTTP(w, slow)
					done <- w.Code
				}()
				// The write returns once the handler reads the body.
				if _, err := io.WriteString(pw, "x"); err != nil {
					t.Fatal(err)
				}
				c.post("storage/history", `[{"id":"a","payload":"x"}]`).expectStatus(http.StatusOK)
				pw.CloseWithError(io.ErrUnexpectedEOF)
				<-done
			})
		}
		// A User API body stays limited: over the limit is 17.
		e.do(http.MethodPost, "/user/1.0/alice/password", strings.Repeat("p", 20000), basicAuth(c.name, c.password)).
			expect(http.StatusBadRequest, "17")
	})
}

// One account's uploads hold at most a share of the body budget (a
// sixteenth, at least max_request_bytes): an account that stalls many
// uploads at once gets 503 for those beyond its share, and the other
// users' uploads still find room (docs/protocol.md §7.3).
func TestOneUserHoldsOnlyAShareOfTheBodyBudget(t *testing.T) {
	withEnv(t, smallBodies(16000), func(t *testing.T, e *env) {
		alice, mallory := e.user("alice"), e.user("mallory")
		const stalled = 16
		done := make(chan int, stalled)
		pipes := make([]*io.PipeWriter, stalled)
		for i := range pipes {
			pr, pw := io.Pipe()
			pipes[i] = pw
			r := httptest.NewRequest(http.MethodPost, mallory.url("storage/history"), pr)
			r.ContentLength = -1 // chunked: counted at max_request_bytes
			r.SetBasicAuth(mallory.name, mallory.password)
			go func() {
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)
				done <- w.Code
			}()
			go io.WriteString(pw, "[")
		}
		defer func() {
			for _, pw := range pipes {
				pw.CloseWithError(io.ErrUnexpectedEOF)
			}
		}()
		// All but the one upload her share holds are refused.
		for range stalled - 1 {
			select {
			case code := <-done:
				if code != http.StatusServiceUnavailable {
					t.Errorf("a stalled upload beyond the share: %d, want 503", code)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("mallory's stalled uploads hold the whole budget")
			}
		}
		alice.post("storage/history", `[{"id":"a","payload":"x"}]`).expectStatus(http.StatusOK)
		for _, pw := range pipes {
			pw.CloseWithError(io.ErrUnexpectedEOF)
		}
		if code := <-done; code != http.StatusBadRequest {
			t.Errorf("the upload broken off: %d, want 400", code)
		}
		// Her share is free again.
		mallory.post("storage/history", `[{"id":"m","payload":"x"}]`).expectStatus(http.StatusOK)
	})
}
