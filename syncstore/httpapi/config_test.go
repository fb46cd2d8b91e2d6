package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func TestNewValidatesConfig(t *testing.T) {
	store := openSQLite(t, nil)
	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	valid := func() httpapi.Config { return httpapi.Config{Store: store, Auth: auth} }
	if _, err := httpapi.New(valid()); err != nil {
		t.Fatalf("minimal config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*httpapi.Config)
		want   string
	}{
		{"no store", func(c *httpapi.Config) { c.Store = nil }, "a store is required"},
		{"no auth", func(c *httpapi.Config) { c.Auth = nil }, "an authenticator is required"},
		{"bad mode", func(c *httpapi.Config) { c.Registration = "sometimes" }, `registration mode "sometimes"`},
		{"empty allowlist", func(c *httpapi.Config) { c.Registration = httpapi.RegistrationAllowlist }, "at least one allowlist entry"},
		{"allowlist unused", func(c *httpapi.Config) { c.Allowlist = []string{"bob"} }, "only used with registration mode allowlist"},
		{"bad allowlist entry", func(c *httpapi.Config) {
			c.Registration = httpapi.RegistrationAllowlist
			c.Allowlist = []string{"not an address"}
		}, `allowlist entry "not an address"`},
		{"captcha keys", func(c *httpapi.Config) { c.Captcha = &httpapi.CaptchaConfig{VerifyURL: "https://x.example/v"} }, "public and a private key"},
		{"captcha URL", func(c *httpapi.Config) {
			c.Captcha = &httpapi.CaptchaConfig{PublicKey: "a", PrivateKey: "b", VerifyURL: "/verify"}
		}, `captcha verify URL "/verify"`},
		{"public URL scheme", func(c *httpapi.Config) { c.PublicURL = "ftp://sync.example.com/" }, `public URL "ftp://sync.example.com/"`},
		{"public URL relative", func(c *httpapi.Config) { c.PublicURL = "sync.example.com" }, "not an absolute http(s) URL"},
		{"public URL query", func(c *httpapi.Config) { c.PublicURL = "https://sync.example.com/?a=b" }, "must not have credentials, a query or a fragment"},
		{"quota", func(c *httpapi.Config) { c.QuotaBytes = -1 }, "quota -1 bytes is negative"},
		{"post records", func(c *httpapi.Config) { c.MaxPostRecords = -1 }, "max post records -1 is negative"},
		{"post bytes", func(c *httpapi.Config) { c.MaxPostBytes = -1 }, "max post bytes -1 is negative"},
		{"payload", func(c *httpapi.Config) { c.MaxPayloadBytes = -1 }, "max payload bytes -1 is negative"},
		{"request", func(c *httpapi.Config) { c.MaxRequestBytes = -1 }, "max request bytes -1 is negative"},
		{"retry after", func(c *httpapi.Config) { c.RetryAfter = time.Millisecond }, "less than a second"},
	} {
		cfg := valid()
		tc.mutate(&cfg)
		_, err := httpapi.New(cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	// Several problems are reported together.
	_, err = httpapi.New(httpapi.Config{QuotaBytes: -1})
	if err == nil || !strings.Contains(err.Error(), "a store is required") || !strings.Contains(err.Error(), "quota -1") {
		t.Errorf("combined error %v", err)
	}
}
