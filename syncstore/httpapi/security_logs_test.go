package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// secretWatch collects the secrets a test uses and checks text for any
// of them, also in the encodings they travel in.
type secretWatch struct {
	secrets []string
}

// add records a secret and, for credentials, their Basic encodings.
func (s *secretWatch) add(secret string) string {
	s.secrets = append(s.secrets, secret)
	return secret
}

func (s *secretWatch) addCredentials(user, password string) (string, string) {
	s.add(password)
	s.add(base64.StdEncoding.EncodeToString([]byte(user + ":" + password)))
	return user, password
}

// leaks returns the secrets that occur in text.
func (s *secretWatch) leaks(text string) []string {
	var found []string
	for _, secret := range s.secrets {
		if strings.Contains(text, secret) {
			found = append(found, secret)
		}
	}
	return found
}

// entryText renders a log entry with every field, the way any encoder
// would show it.
func entryText(e observer.LoggedEntry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", e.Level, e.Message, e.Stack)
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range e.Context {
		f.AddTo(enc)
	}
	fmt.Fprintf(&b, " %v", enc.Fields)
	return b.String()
}

// TestSecretsNotLogged runs a request mix through the handler with every
// component logging to one observer at debug level: registrations, logins
// with right and wrong passwords, password and e-mail changes, uploads,
// an account deletion, then the same while the database fails. No log
// entry and no response body may contain a password or an Authorization
// header value.
func TestSecretsNotLogged(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			logger := zap.New(core)
			var w secretWatch
			clock := newClock()
			store := b.open(t, clock.Now)
			auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost, Logger: logger})
			if err != nil {
				t.Fatal(err)
			}
			h, err := httpapi.New(httpapi.Config{Store: store, Auth: auth, Logger: logger, Clock: clock.Now,
				PublicURL: "https://sync.example.com", QuotaBytes: 5 << 20, SharedSecret: w.add("Shared-S3cret-9931")})
			if err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, h: h, store: store, auth: auth, clock: clock}
			var bodies []string
			do := func(method, target, body string, opts ...reqOpt) *resp {
				t.Helper()
				r := e.do(method, target, body, opts...)
				bodies = append(bodies, r.body, fmt.Sprint(r.header))
				return r
			}

			email := "carol@example.com"
			carol := httpapi.UsernameFromEmail(email)
			_, pw := w.addCredentials(carol, "Carol-Pa55word-8812")
			do(http.MethodPut, "/user/1.0/"+carol, `{"email":"`+email+`","password":"`+pw+`"}`,
				header("X-Weave-Secret", "Shared-S3cret-9931")).expect(http.StatusOK, carol)
			_, wrong := w.addCredentials(carol, "Wrong-Pa55word-4471")
			_, weak := w.addCredentials(carol, "Weak-7")
			_, next := w.addCredentials(carol, "Next-Pa55word-6620")
			_, long := w.addCredentials(carol, strings.Repeat("Long-Pa55word-", 8))
			_, latin := w.addCredentials(carol, "Latin1-Pa55word-\xe9\xe9")
			good := basicAuth(carol, pw)
			root := "/1.1/" + carol + "/"

			do(http.MethodPut, root+"storage/bookmarks/a", `{"payload":"x"}`, good).expectStatus(http.StatusOK)
			do(http.MethodPost, root+"storage/history", records("h", 120, 20), good).expectStatus(http.StatusOK)
			do(http.MethodPost, root+"storage/history", `[{"id":"bad/id"},{"payload":5}]`, good).expectStatus(http.StatusOK)
			do(http.MethodGet, root+"storage/history?full=1&limit=5", "", good).expectStatus(http.StatusOK)
			for _, bad := range []string{wrong, weak, long, latin, ""} {
				do(http.MethodGet, root+"info/collections", "", basicAuth(carol, bad)).expectStatus(http.StatusUnauthorized)
			}
			do(http.MethodGet, root+"info/collections", "", basicAuth("nobody", wrong)).expectStatus(http.StatusUnauthorized)
			do(http.MethodPost, "/user/1.0/"+carol+"/password", weak, good).expect(http.StatusBadRequest, "9")
			do(http.MethodPost, "/user/1.0/"+carol+"/password", long, good).expect(http.StatusBadRequest, "9")
			do(http.MethodPost, "/user/1.0/"+carol+"/password", next, basicAuth(carol, wrong)).expectStatus(http.StatusUnauthorized)
			do(http.MethodPost, "/user/1.0/"+carol+"/password", next, good).expect(http.StatusOK, "success")
			good = basicAuth(carol, next)
			do(http.MethodPost, "/user/1.0/"+carol+"/password", pw, header("X-Weave-Password-Reset", "code")).expect(http.StatusBadRequest, "10")
			do(http.MethodPost, "/user/1.0/"+carol+"/email", "carol2@example.com", good).expect(http.StatusOK, "carol2@example.com")
			do(http.MethodPut, "/user/1.0/"+carol, `{"email":"`+email+`","password":"`+wrong+`"}`).expect(http.StatusBadRequest, "4")
			do(http.MethodPut, root+"storage/bookmarks/big", `{"payload":"`+strings.Repeat("p", 300<<10)+`"}`, good).expect(http.StatusBadRequest, "8")

			dave := httpapi.UsernameFromEmail("dave@example.com")
			_, davePW := w.addCredentials(dave, "Dave-Pa55word-3108")
			do(http.MethodPut, "/user/1.0/"+dave, `{"email":"dave@example.com","password":"`+davePW+`"}`).expect(http.StatusOK, dave)
			do(http.MethodDelete, "/user/1.0/"+dave, "", basicAuth(dave, davePW)).expect(http.StatusOK, "0")

			// The database fails: every request is 503 and logged.
			store.Close()
			do(http.MethodGet, root+"info/collections", "", good).expectStatus(http.StatusServiceUnavailable)
			do(http.MethodPut, root+"storage/bookmarks/b", `{"payload":"y"}`, good).expectStatus(http.StatusServiceUnavailable)
			do(http.MethodGet, root+"info/collections", "", basicAuth(carol, wrong)).expectStatus(http.StatusServiceUnavailable)
			do(http.MethodPost, "/user/1.0/"+carol+"/password", "Other-Pa55word-1", good).expectStatus(http.StatusServiceUnavailable)
			_, evePW := w.addCredentials("eve", "Eve-Pa55word-5190")
			do(http.MethodPut, "/user/1.0/"+httpapi.UsernameFromEmail("eve@example.com"), `{"email":"eve@example.com","password":"`+evePW+`"}`).
				expectStatus(http.StatusServiceUnavailable)

			errorsLogged := 0
			for _, entry := range logs.All() {
				if entry.Level >= zapcore.ErrorLevel {
					errorsLogged++
				}
				if found := w.leaks(entryText(entry)); len(found) > 0 {
					t.Errorf("log entry %q shows %q", entryText(entry), found)
				}
			}
			if errorsLogged == 0 {
				t.Error("the failures logged nothing; the check above saw no error paths")
			}
			for _, body := range bodies {
				if found := w.leaks(body); len(found) > 0 {
					t.Errorf("response %q shows %q", body, found)
				}
			}
		})
	}
}

// TestDSNPasswordNotShown opens MySQL stores with DSNs that carry a
// password and fail in every way the driver knows: malformed, wrong
// network, unreachable server, wrong credentials, unknown database, bad
// parameters. Neither the error nor anything logged shows the password.
func TestDSNPasswordNotShown(t *testing.T) {
	addr := testservices.MySQLServer(t).Addr
	const pw = "Dsn-S3cret-pw"
	for _, dsn := range []string{
		"root:" + pw + "@tcp(" + addr + ")/hrd_none",
		"hrd_nobody:" + pw + "@tcp(" + addr + ")/hrd_none",
		"root:" + pw + "@tcp(127.0.0.1:1)/hrd_none",
		"root:" + pw + "@tcp(" + addr + ")/hrd_none?tls=bogus",
		"root:" + pw + "@tcp(" + addr + ")/hrd_none?timeout=forever",
		"root:" + pw + "@tcp(" + addr + ")/hrd_none?charset=nosuch",
		"root:" + pw + "@tcp(" + addr + ")",
		"root:" + pw + "@tcp(" + addr + "/hrd_none",
		"root:" + pw + "tcp(" + addr + ")/hrd_none",
		"root:" + pw + "@" + addr + "/hrd_none",
		"root:" + pw + "@tcp(" + addr + ")/",
		"root:" + pw + "/more@tcp(" + addr + ")",
		"root:" + pw + "@unix(/nonexistent/mysqld.sock)/hrd_none",
		"root:" + pw + "@udp(" + addr + ")/hrd_none",
		"root:" + pw + "@tcp(" + addr + ")/hrd%zz",
		"root:" + pw + "@tcp(" + addr + ")/hrd_none?%zz=1",
	} {
		core, logs := observer.New(zapcore.DebugLevel)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		s, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: dsn, Logger: zap.New(core)})
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("%q: Open succeeded", dsn)
			continue
		}
		t.Logf("%s", err)
		for _, piece := range []string{pw, "S3cret", "Dsn-S3", "cret-pw"} {
			if strings.Contains(err.Error(), piece) {
				t.Errorf("%q: error %q shows the password", dsn, err)
			}
			for _, entry := range logs.All() {
				if strings.Contains(entryText(entry), piece) {
					t.Errorf("%q: log entry %q shows the password", dsn, entryText(entry))
				}
			}
		}
	}
}
