// Package caddymodule plugs the Firefox Sync 1.1 server into Caddy: the
// http.handlers.firefox_sync module, its Caddyfile directive, and the
// syncserver operator commands (dev, users, purge).
//
// The protocol itself lives in syncstore/httpapi; this package only turns
// Caddy configuration into an httpapi.Handler backed by a pooled store.
package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("firefox_sync", parseCaddyfile)
	// Before reverse_proxy so that a site can proxy everything else (or,
	// during a migration, the legacy server) without a route block.
	httpcaddyfile.RegisterDirectiveOrder("firefox_sync", httpcaddyfile.Before, "reverse_proxy")
}

// Defaults applied when a field is left out.
const (
	// DefaultQuotaBytes is the Reference server's quota_size of 5120 KB.
	DefaultQuotaBytes int64 = 5 << 20
	// DefaultPurgeInterval is how often expired records are deleted.
	DefaultPurgeInterval = time.Hour
)

// Registration modes (the registration field).
const (
	RegistrationOpen      = "open"
	RegistrationClosed    = "closed"
	RegistrationAllowlist = "allowlist"
)

// Handler serves the Firefox Sync 1.1 protocol: the User API 1.0
// (/user/1.0/…, /misc/1.0/…) used to create accounts and find the storage
// node, and the Storage API 1.0/1.1 (/1.1/<user>/…). It answers every
// request it receives, so put it last in its route (or behind a matcher).
//
// One binary can serve one node: node/weave always answers public_url.
type Handler struct {
	// Database selects where accounts and records are stored. Default:
	// SQLite in ./data. Open databases are shared across config reloads:
	// a reload that keeps the same database does not reopen it.
	Database *Database `json:"database,omitempty"`

	// Shards are native databases besides Database, each holding the
	// users whose route row names it; Database stays the directory (the
	// route table) and the "default" shard. New users are spread over
	// the open shards by weight. With shards the route table is read
	// for every user even without a legacy block. In config order.
	Shards []Shard `json:"shards,omitempty"`

	// Memcached, when set, caches the hot reads (info/collections, quota,
	// meta/global, crypto/keys) in memcached. The database stays
	// authoritative; a memcached outage only costs speed.
	Memcached *Memcached `json:"memcached,omitempty"`

	// PublicURL is the storage node URL that node/weave hands to clients,
	// e.g. "https://sync.example.com/" (a trailing "/" is added). Clients
	// append "1.1/<user>/…" to it, so it must be the URL this handler is
	// reachable at from the outside. Default: scheme and Host of each
	// request, which is only right when nothing rewrites them.
	PublicURL string `json:"public_url,omitempty"`

	// Registration decides who may create an account with PUT
	// /user/1.0/<user>: "open" (default, anyone), "closed" (nobody; create
	// accounts with `syncserver users add`), or "allowlist" (only the
	// names or e-mail addresses in allowlist).
	Registration string `json:"registration,omitempty"`

	// Allowlist holds the usernames or e-mail addresses allowed to
	// register when registration is "allowlist". E-mail addresses are
	// turned into Sync usernames (base32 SHA-1) before comparing.
	Allowlist []string `json:"allowlist,omitempty"`

	// AllowPlainUsernames lets an account be created under a username
	// that is not the hash of its e-mail address (early Weave accounts).
	// Off by default, like the Reference server's strict_usernames.
	AllowPlainUsernames bool `json:"allow_plain_usernames,omitempty"`

	// Captcha requires a reCAPTCHA answer on registration and enables
	// /misc/1.0/captcha_html. Default: no captcha.
	Captcha *Captcha `json:"captcha,omitempty"`

	// SharedSecret, when a request carries it in X-Weave-Secret, skips the
	// captcha (for scripted account creation).
	SharedSecret string `json:"shared_secret,omitempty"`

	// QuotaBytes is the payload bytes each user may store; writes are
	// refused with error 14 once it is reached. Default 5 MiB
	// (5242880); 0 disables the quota.
	QuotaBytes *int64 `json:"quota_bytes,omitempty"`

	// MaxPostRecords is how many records one POST may write; the rest
	// fail with "retry wbo" and the client sends them again. Default 100.
	MaxPostRecords int `json:"max_post_records,omitempty"`

	// MaxPostBytes is how many payload bytes one POST may write; the rest
	// fail with "retry bytes". Default 1 MiB.
	MaxPostBytes int `json:"max_post_bytes,omitempty"`

	// MaxPayloadBytes is the largest payload one record may have.
	// Default 256 KiB.
	MaxPayloadBytes int `json:"max_payload_bytes,omitempty"`

	// MaxRequestBytes is the largest request body accepted at all; larger
	// ones get error 17 and nothing is written. Default: the largest POST
	// the two limits above let through, max_post_records × 1 KiB (ids and
	// other fields) + 2 × max_post_bytes (payloads are JSON inside JSON,
	// sent with their quotes escaped): 2 MiB + 100 KiB (2199552).
	MaxRequestBytes int64 `json:"max_request_bytes,omitempty"`

	// BodyBudgetBytes bounds the request body bytes that all requests
	// together hold in memory; each body counts with its Content-Length
	// (max_request_bytes without one) until it is answered. A request
	// that finds the budget full waits up to body_wait, then gets 503
	// with Retry-After: 10. At least max_request_bytes. Default 64 MiB.
	BodyBudgetBytes int64 `json:"body_budget_bytes,omitempty"`

	// BodyWait is how long a request waits for room in the body budget
	// before it is answered 503. Default 2s.
	BodyWait caddy.Duration `json:"body_wait,omitempty"`

	// RetryAfter is sent in Retry-After and X-Weave-Backoff when the
	// database is unavailable (503). Default 30m.
	RetryAfter caddy.Duration `json:"retry_after,omitempty"`

	// BcryptCost is the cost of new password hashes. Default 10. Older
	// hashes are upgraded on the next successful login.
	BcryptCost int `json:"bcrypt_cost,omitempty"`

	// AuthCacheTTL is how long a verified password is remembered (as an
	// HMAC, never in clear), so that a sync does not pay bcrypt on every
	// request. Default 5m.
	AuthCacheTTL caddy.Duration `json:"auth_cache_ttl,omitempty"`

	// AuthCacheSize bounds the number of remembered logins. Default
	// 10000; a negative value disables the cache.
	AuthCacheSize int `json:"auth_cache_size,omitempty"`

	// AuthThrottle limits failed logins per username and per client
	// address (see AuthThrottle). Default: on, 10 per user and 30 per
	// address within 15m, backing off from 1s to 5m.
	AuthThrottle *AuthThrottle `json:"auth_throttle,omitempty"`

	// Legacy puts this handler in front of legacy PHP Sync servers while
	// their users are migrated: each user is served natively, proxied to
	// their legacy node, or asked to retry while the migrate tool moves
	// them, as the route table in the database says. Without it every
	// user is native.
	Legacy *shim.Legacy `json:"legacy,omitempty"`

	// PurgeInterval is how often records whose TTL has expired are
	// deleted in the background (reads hide them either way). Default 1h;
	// 0 disables purging here, e.g. when another instance or a cron job
	// running `syncserver purge` does it.
	PurgeInterval *caddy.Duration `json:"purge_interval,omitempty"`

	logger  *zap.Logger
	metrics *metrics
	// stacks serve the native users: the handler's own database first,
	// then one per shard in config order.
	stacks []*nativeStack
	api    *httpapi.Handler // the own database's, stacks[0].api
	shim   *shim.Shim       // nil without a legacy block or shards
	// pending open the shards whose database was unreachable at
	// provisioning; shardRetry is how often they try (0: every 5s).
	pending    []*pendingShard
	shardRetry time.Duration
	// helper is the Caddyfile adapter's, while parsing only: the legacy
	// nodes' reverse_proxy blocks may hold routes.
	helper *httpcaddyfile.Helper
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.firefox_sync",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision replaces placeholders, validates the configuration (before
// touching any database, so a typo never opens connections), acquires the
// shared stores (its own database's and each shard's) and builds their
// protocol handlers, and the route dispatch in front of them when a legacy
// block or shards need one.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.replacePlaceholders(caddy.NewReplacer())
	if err := h.Validate(); err != nil {
		return err
	}

	m, err := newMetrics(ctx.GetMetricsRegistry())
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	h.metrics = m

	own, err := h.openStack(ctx, "", h.database())
	if err != nil {
		return err
	}
	h.stacks = append(h.stacks, own)
	own.pooled.directories.Add(1)
	h.api = own.api
	shards := make([]*nativeStack, len(h.Shards)) // nil: not open yet
	unopened := map[int]error{}
	for i := range h.Shards {
		sh := &h.Shards[i]
		st, err := h.openStack(ctx, sh.Name, *sh.Database)
		if isStoreOpenError(err) {
			unopened[i] = err
			continue
		}
		if err != nil {
			return err // Caddy calls Cleanup, which releases what is open
		}
		st.api.ShareLimits(own.api)
		h.stacks = append(h.stacks, st)
		shards[i] = st
	}

	if h.Legacy != nil || len(h.Shards) > 0 {
		if err := h.provisionShim(ctx, shards); err != nil {
			return err
		}
	}
	for i, err := range unopened {
		h.pending = append(h.pending, h.openShardLater(ctx, i, err))
	}
	return nil
}

// replacePlaceholders resolves global placeholders such as
// {env.SYNCSERVER_MYSQL_DSN} or {file./run/secrets/dsn} so that secrets
// need not be written into the config. Unknown placeholders are left
// alone: they are probably part of a password.
func (h *Handler) replacePlaceholders(repl *caddy.Replacer) {
	r := func(s string) string { return repl.ReplaceKnown(s, "") }
	for _, db := range append([]*Database{h.Database}, h.shardDatabases()...) {
		if db != nil {
			db.Driver = r(db.Driver)
			db.Dir = r(db.Dir)
			db.DSN = r(db.DSN)
		}
	}
	if h.Memcached != nil {
		for i, s := range h.Memcached.Servers {
			h.Memcached.Servers[i] = r(s)
		}
	}
	h.PublicURL = r(h.PublicURL)
	h.SharedSecret = r(h.SharedSecret)
	if h.Captcha != nil {
		h.Captcha.PublicKey = r(h.Captcha.PublicKey)
		h.Captcha.PrivateKey = r(h.Captcha.PrivateKey)
		h.Captcha.VerifyURL = r(h.Captcha.VerifyURL)
	}
}

// Validate reports configuration mistakes with the field's JSON name.
func (h *Handler) Validate() error {
	if err := h.database().validate(); err != nil {
		return err
	}
	if err := h.validateShards(); err != nil {
		return err
	}
	if err := h.Memcached.validate(); err != nil {
		return err
	}
	if h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("public_url %q: must be an absolute http:// or https:// URL such as https://sync.example.com/", h.PublicURL)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("public_url %q: must not have credentials, a query or a fragment; clients append paths to it", h.PublicURL)
		}
	}
	switch h.registration() {
	case RegistrationOpen, RegistrationClosed:
		if len(h.Allowlist) > 0 {
			return fmt.Errorf("allowlist is only used with registration %q, not %q", RegistrationAllowlist, h.registration())
		}
	case RegistrationAllowlist:
		if len(h.Allowlist) == 0 {
			return fmt.Errorf("registration %q needs at least one entry in allowlist", RegistrationAllowlist)
		}
	default:
		return fmt.Errorf("registration %q: must be %q, %q or %q", h.Registration, RegistrationOpen, RegistrationClosed, RegistrationAllowlist)
	}
	if err := h.Captcha.validate(); err != nil {
		return err
	}
	if err := h.AuthThrottle.validate(); err != nil {
		return err
	}
	if h.Legacy != nil {
		if err := h.Legacy.Validate(); err != nil {
			return err
		}
	}
	for _, l := range []struct {
		name string
		v    int64
	}{
		{"quota_bytes", h.quotaBytes()},
		{"max_post_records", int64(h.MaxPostRecords)},
		{"max_post_bytes", int64(h.MaxPostBytes)},
		{"max_payload_bytes", int64(h.MaxPayloadBytes)},
		{"max_request_bytes", h.MaxRequestBytes},
		{"body_budget_bytes", h.BodyBudgetBytes},
		{"bcrypt_cost", int64(h.BcryptCost)},
	} {
		if l.v < 0 {
			return fmt.Errorf("%s must not be negative (got %d)", l.name, l.v)
		}
	}
	for _, l := range []struct {
		name string
		v    time.Duration
	}{
		{"body_wait", time.Duration(h.BodyWait)},
		{"retry_after", time.Duration(h.RetryAfter)},
		{"auth_cache_ttl", time.Duration(h.AuthCacheTTL)},
		{"purge_interval", h.purgeInterval()},
	} {
		if l.v < 0 {
			return fmt.Errorf("%s must not be negative (got %s)", l.name, l.v)
		}
	}
	if h.RetryAfter != 0 && time.Duration(h.RetryAfter) < time.Second {
		return fmt.Errorf("retry_after %s: clients count it in whole seconds, use at least 1s", time.Duration(h.RetryAfter))
	}
	if h.BcryptCost != 0 && (h.BcryptCost < 4 || h.BcryptCost > 31) {
		return fmt.Errorf("bcrypt_cost %d: must be between 4 and 31", h.BcryptCost)
	}
	if h.BodyBudgetBytes > 0 && h.BodyBudgetBytes < h.maxRequestBytes() {
		return fmt.Errorf("body_budget_bytes (%d) is less than max_request_bytes (%d): the largest upload could never be read",
			h.BodyBudgetBytes, h.maxRequestBytes())
	}
	// The limits as they apply, defaults included: a setting left out
	// can contradict one that is set as much as two set ones can.
	payload := limit(int64(h.MaxPayloadBytes), httpapi.DefaultMaxPayloadBytes)
	post := limit(int64(h.MaxPostBytes), httpapi.DefaultMaxPostBytes)
	if payload.v > post.v {
		return fmt.Errorf("max_payload_bytes (%s) larger than max_post_bytes (%s): such a record could never be uploaded; raise max_post_bytes with it", payload, post)
	}
	if h.MaxRequestBytes > 0 && h.MaxRequestBytes < payload.v {
		return fmt.Errorf("max_request_bytes (%d) less than max_payload_bytes (%s): a record of the largest payload could never be uploaded", h.MaxRequestBytes, payload)
	}
	return nil
}

// effectiveLimit is a size limit in effect, remembering whether it is
// the default, for messages.
type effectiveLimit struct {
	v         int64
	isDefault bool
}

func limit(set, def int64) effectiveLimit {
	if set > 0 {
		return effectiveLimit{v: set}
	}
	return effectiveLimit{v: def, isDefault: true}
}

func (l effectiveLimit) String() string {
	if l.isDefault {
		return fmt.Sprintf("%d, the default", l.v)
	}
	return fmt.Sprint(l.v)
}

// maxRequestBytes is the request body limit in effect: MaxRequestBytes,
// or by default the one derived from the POST limits.
func (h *Handler) maxRequestBytes() int64 {
	if h.MaxRequestBytes > 0 {
		return h.MaxRequestBytes
	}
	records, bytes := h.MaxPostRecords, h.MaxPostBytes
	if records == 0 {
		records = httpapi.DefaultMaxPostRecords
	}
	if bytes == 0 {
		bytes = httpapi.DefaultMaxPostBytes
	}
	return httpapi.MaxRequestBytesFor(records, bytes)
}

// Cleanup stops the purgers and releases this handler's hold on the
// shared databases; the last holder closes each.
func (h *Handler) Cleanup() error {
	if h.shim != nil {
		h.shim.Stop()
		h.shim = nil
	}
	var errs []error
	for _, p := range h.pending {
		if err := p.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	h.pending = nil
	for i, st := range h.stacks {
		if i == 0 {
			st.pooled.directories.Add(-1)
		}
		if err := st.close(); err != nil {
			errs = append(errs, err)
		}
	}
	h.stacks = nil
	return errors.Join(errs...)
}

// ServeHTTP answers every request itself, natively or, with a legacy
// block, through the backend the user's route names. next is only handed
// to the legacy nodes' reverse_proxy (its handle_response routes).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	start := time.Now()
	sw := &shim.StatusWriter{ResponseWriter: w}
	req := httpapi.ParseRequest(r)
	defer func() {
		// An answer aborted on its way (http.ErrAbortHandler: a legacy
		// answer that broke off, which the client sees as a cut
		// transfer) is still a request, counted with the status sent.
		if v := recover(); v != nil {
			h.metrics.observe(req.Endpoint(), sw.StatusCode(), time.Since(start))
			panic(v)
		}
	}()
	if h.shim == nil {
		h.api.ServeRequest(sw, r, &req)
	} else {
		h.shim.Serve(sw, r, &req, next)
	}
	h.metrics.observe(req.Endpoint(), sw.StatusCode(), time.Since(start))
	return nil
}

func (h *Handler) database() Database {
	if h.Database == nil {
		return Database{}
	}
	return *h.Database
}

func (h *Handler) registration() string {
	if h.Registration == "" {
		return RegistrationOpen
	}
	return h.Registration
}

func (h *Handler) quotaBytes() int64 {
	if h.QuotaBytes == nil {
		return DefaultQuotaBytes
	}
	return *h.QuotaBytes
}

func (h *Handler) purgeInterval() time.Duration {
	if h.PurgeInterval == nil {
		return DefaultPurgeInterval
	}
	return time.Duration(*h.PurgeInterval)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
