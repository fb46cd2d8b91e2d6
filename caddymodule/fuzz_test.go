package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/go-sql-driver/mysql"
)

// FuzzUnmarshalCaddyfile parses arbitrary firefox_sync directives. What
// is accepted must survive Caddy's JSON round trip and, written back as
// a Caddyfile, parse to the same configuration; validation and the
// descriptions used in logs never show a DSN's password; the full
// Caddyfile adapter never panics on it.
func FuzzUnmarshalCaddyfile(f *testing.F) {
	for _, s := range []string{
		"firefox_sync",
		"firefox_sync {\n}",
		"firefox_sync {\n\tdatabase sqlite /var/lib/sync\n}",
		"firefox_sync {\n\tdatabase sqlite {\n\t\tdir ./d\n\t}\n}",
		"firefox_sync {\n\tdatabase mysql {env.SYNCSERVER_MYSQL_DSN} {\n\t\tmax_open_conns 30\n\t\tmax_idle_conns 5\n\t\tconn_max_lifetime 2m\n\t}\n}",
		"firefox_sync {\n\tdatabase mysql {\n\t\tdsn \"sync:s3cret-pw@tcp(db:3306)/s\"\n\t}\n}",
		"firefox_sync {\n\tdatabase mysql \"sync:s3cret-pw@tcp(db:3306\"\n}",
		"firefox_sync {\n\tmemcached 10.0.0.1:11211 10.0.0.2:11211 {\n\t\tservers /run/memcached.sock\n\t\tprefix sync1:\n\t\tttl 10m\n\t\ttimeout 50ms\n\t}\n}",
		"firefox_sync {\n\tpublic_url https://sync.example.com/\n\tregistration allowlist alice@example.com\n\tallowlist bob@example.com legacyname\n\tallow_plain_usernames\n}",
		"firefox_sync {\n\tcaptcha pub priv https://verify.example.com/ {\n\t\tpublic_key p2\n\t}\n\tshared_secret `a \"quoted\" secret`\n}",
		"firefox_sync {\n\tquota 5MiB\n\tmax_post_records 100\n\tmax_post_bytes 1MB\n\tmax_payload_bytes 256KiB\n\tmax_request_bytes 2MiB\n}",
		"firefox_sync {\n\tquota off\n\tretry_after 30m\n\tbcrypt_cost 12\n\tauth_cache_ttl 5m\n\tauth_cache_size off\n\tpurge_interval off\n}",
		"firefox_sync {\n\tauth_cache_size -1\n\tpurge_interval 1d\n\tretry_after -5s\n}",
		"firefox_sync {\n\tlegacy {\n\t\tnode n1 {\n\t\t\treverse_proxy 127.0.0.1:8080\n\t\t}\n\t\tdefault_state legacy\n\t}\n}",
		"firefox_sync {\n\tdatabase mysql {env.SYNC_DSN}\n\tshard s1 {\n\t\tdatabase mysql {env.S1_DSN} {\n\t\t\tmax_open_conns 20\n\t\t}\n\t\tweight 2\n\t}\n\tshard s2 {\n\t\tdatabase sqlite /d2\n\t\tclosed\n\t}\n}",
		"firefox_sync {\n\tshard default {\n\t\tdatabase sqlite /d\n\t\tweight -1\n\t}\n}",
		"firefox_sync arg",
		"firefox_sync {\n\tquota 1EiB\n\tmax_post_records 99999999999999999999\n}",
		"firefox_sync {\n\tdatabase\n}",
		"firefox_sync {\n\tpublic_url <<EOF\n\thttps://x/\n\tEOF\n}",
		"firefox_sync {\n\tunknown_thing 1\n}",
		"firefox_sync {\n\tshared_secret \"\\\\\"\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		tokens, err := caddyfile.Tokenize([]byte(input), "Caddyfile")
		if err != nil {
			return // the lexer refused it before any directive saw it
		}
		h := new(Handler)
		if err := h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens)); err != nil {
			if err.Error() == "" {
				t.Fatalf("%q: empty error", input)
			}
			adapt(t, input)
			return
		}
		raw, err := json.Marshal(h)
		if err != nil {
			t.Fatalf("%q: encoding the parsed handler: %v", input, err)
		}
		back := new(Handler)
		if err := json.Unmarshal(raw, back); err != nil {
			t.Fatalf("%q: decoding %s: %v", input, raw, err)
		}
		if again, _ := json.Marshal(back); !bytes.Equal(again, raw) {
			t.Fatalf("%q: JSON round trip changed %s into %s", input, raw, again)
		}
		checkNoPassword(t, input, h)
		if text, ok := printCaddyfile(raw); ok {
			reparsed, err := parseTokens(text)
			if err != nil {
				t.Fatalf("%q: written back as\n%s\nwhich fails: %v", input, text, err)
			}
			if got, _ := json.Marshal(reparsed); !bytes.Equal(got, raw) {
				t.Fatalf("%q: written back as\n%s\nwhich parses to %s, not %s", input, text, got, raw)
			}
		}
		adapt(t, input)
	})
}

func parseTokens(text string) (*Handler, error) {
	tokens, err := caddyfile.Tokenize([]byte(text), "Caddyfile")
	if err != nil {
		return nil, err
	}
	h := new(Handler)
	return h, h.UnmarshalCaddyfile(caddyfile.NewDispenser(tokens))
}

// checkNoPassword: neither a validation error nor what the handler tells
// operators about its database may contain the DSN's password.
func checkNoPassword(t *testing.T, input string, h *Handler) {
	if h.Database == nil || h.Database.DSN == "" {
		_ = h.Validate() // must not panic either
		return
	}
	cfg, err := mysql.ParseDSN(h.Database.DSN)
	pw := ""
	if err == nil {
		pw = cfg.Passwd
	}
	verr := h.Validate()
	// Short or coincidental passwords (a piece of the host name) cannot be
	// told apart from the parts that may be shown.
	if len(pw) < 4 || strings.Contains(h.Database.Driver+cfg.User+cfg.Addr+cfg.DBName+cfg.Net, pw) {
		return
	}
	shown := []string{h.Database.label(), fmt.Sprint(h.Database.zapFields())}
	if verr != nil {
		shown = append(shown, verr.Error())
	}
	for _, s := range shown {
		if strings.Contains(s, pw) {
			t.Fatalf("%q: %q shows the DSN password %q", input, s, pw)
		}
	}
}

// adapt runs the whole Caddyfile adapter over the directive in a site;
// it may refuse it but must not panic.
func adapt(t *testing.T, directive string) {
	site := "http://127.0.0.1:1 {\n" + directive + "\n}\n"
	_, _, _ = caddyconfig.GetAdapter("caddyfile").Adapt([]byte(site), nil)
}

// printCaddyfile writes a parsed handler (as JSON) back in Caddyfile
// syntax. ok is false when it holds settings this printer does not know
// (added after it) or a value no quoting can express.
func printCaddyfile(raw []byte) (string, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "", false
	}
	var h Handler
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", false
	}
	p := &printer{ok: true}
	p.line(0, "firefox_sync {")
	for name := range fields {
		switch name {
		case "database":
			d := h.Database
			p.known(fields[name], "driver", "dir", "dsn", "max_open_conns", "max_idle_conns", "conn_max_lifetime")
			p.line(1, "database "+p.quote(d.Driver)+" {")
			p.opt(2, "dir", d.Dir)
			p.opt(2, "dsn", d.DSN)
			p.num(2, "max_open_conns", int64(d.MaxOpenConns))
			p.num(2, "max_idle_conns", int64(d.MaxIdleConns))
			p.dur(2, "conn_max_lifetime", d.ConnMaxLifetime)
			p.line(1, "}")
		case "memcached":
			m := h.Memcached
			p.known(fields[name], "servers", "prefix", "ttl", "timeout")
			p.line(1, "memcached "+p.quoteAll(m.Servers)+" {")
			p.opt(2, "prefix", m.Prefix)
			p.dur(2, "ttl", m.TTL)
			p.dur(2, "timeout", m.Timeout)
			p.line(1, "}")
		case "captcha":
			c := h.Captcha
			p.known(fields[name], "public_key", "private_key", "verify_url")
			p.line(1, "captcha {")
			p.opt(2, "public_key", c.PublicKey)
			p.opt(2, "private_key", c.PrivateKey)
			p.opt(2, "verify_url", c.VerifyURL)
			p.line(1, "}")
		case "public_url":
			p.opt(1, name, h.PublicURL)
		case "registration":
			p.opt(1, name, h.Registration)
		case "allowlist":
			p.line(1, "allowlist "+p.quoteAll(h.Allowlist))
		case "allow_plain_usernames":
			p.line(1, name)
		case "shared_secret":
			p.opt(1, name, h.SharedSecret)
		case "quota_bytes":
			p.line(1, "quota "+strconv.FormatInt(*h.QuotaBytes, 10))
		case "max_post_records":
			p.num(1, name, int64(h.MaxPostRecords))
		case "max_post_bytes":
			p.num(1, name, int64(h.MaxPostBytes))
		case "max_payload_bytes":
			p.num(1, name, int64(h.MaxPayloadBytes))
		case "max_request_bytes":
			p.num(1, name, h.MaxRequestBytes)
		case "body_budget_bytes":
			p.num(1, name, h.BodyBudgetBytes)
		case "body_wait":
			p.dur(1, name, h.BodyWait)
		case "retry_after":
			p.dur(1, name, h.RetryAfter)
		case "bcrypt_cost":
			p.num(1, name, int64(h.BcryptCost))
		case "auth_cache_ttl":
			p.dur(1, name, h.AuthCacheTTL)
		case "auth_cache_size":
			p.num(1, name, int64(h.AuthCacheSize))
		case "purge_interval":
			p.line(1, name+" "+time.Duration(*h.PurgeInterval).String())
		default:
			p.ok = false
		}
	}
	p.line(0, "}")
	return p.b.String(), p.ok
}

type printer struct {
	b  strings.Builder
	ok bool
}

func (p *printer) line(indent int, s string) {
	p.b.WriteString(strings.Repeat("\t", indent) + s + "\n")
}

// known clears ok when an object has fields the printer does not write.
func (p *printer) known(raw json.RawMessage, names ...string) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		p.ok = false
		return
	}
	for name := range fields {
		found := false
		for _, n := range names {
			found = found || n == name
		}
		p.ok = p.ok && found
	}
}

func (p *printer) opt(indent int, name, value string) {
	if value != "" {
		p.line(indent, name+" "+p.quote(value))
	}
}

func (p *printer) num(indent int, name string, v int64) {
	if v != 0 {
		p.line(indent, name+" "+strconv.FormatInt(v, 10))
	}
}

func (p *printer) dur(indent int, name string, d caddy.Duration) {
	if d != 0 {
		p.line(indent, name+" "+time.Duration(d).String())
	}
}

// quote makes s one Caddyfile token: backticks take everything
// literally; double quotes only escape quotes and cannot express a
// backslash right before a quote or at the end.
func (p *printer) quote(s string) string {
	switch {
	case !strings.Contains(s, "`"):
		return "`" + s + "`"
	case !strings.Contains(s, `\`):
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	p.ok = false
	return ""
}

func (p *printer) quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = p.quote(s)
	}
	return strings.Join(q, " ")
}
