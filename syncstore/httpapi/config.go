package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// RegistrationMode says who may create an account with PUT /user/1.0/<u>.
type RegistrationMode string

// Registration modes.
const (
	// RegistrationOpen lets anyone register (the Reference default).
	RegistrationOpen RegistrationMode = "open"
	// RegistrationClosed refuses every registration with 400 body 3;
	// accounts are made by the operator.
	RegistrationClosed RegistrationMode = "closed"
	// RegistrationAllowlist admits only the usernames and e-mail addresses
	// of Config.Allowlist; others get 400 body 3.
	RegistrationAllowlist RegistrationMode = "allowlist"
)

// CaptchaConfig enables the reCAPTCHA (v1 protocol) check on registration
// and the /misc/1.0/captcha_html page.
type CaptchaConfig struct {
	// PublicKey is put into the widget on captcha_html.
	PublicKey string
	// PrivateKey is sent to VerifyURL with each answer.
	PrivateKey string
	// VerifyURL receives a form POST (privatekey, remoteip, challenge,
	// response) and answers "true" on its first line, or JSON
	// {"success": true} as reCAPTCHA's later siteverify does.
	VerifyURL string
}

// Defaults applied to the zero values of Config.
const (
	DefaultMaxPostRecords  = syncstore.DefaultMaxRecords
	DefaultMaxPostBytes    = syncstore.DefaultMaxPostSize
	DefaultMaxPayloadBytes = syncstore.DefaultMaxPayload
	// DefaultMaxRequestBytes is MaxRequestBytesFor the default POST
	// limits: 2 MiB + 100 KiB (2,199,552 bytes).
	DefaultMaxRequestBytes = DefaultMaxPostRecords*RecordEnvelopeBytes + 2*DefaultMaxPostBytes
	// RecordEnvelopeBytes is what MaxRequestBytesFor allows per record
	// besides its payload: braces, field names, an id, parentid and
	// predecessorid of up to 64 bytes each with escapes, sortindex, ttl,
	// the client's modified and separators.
	RecordEnvelopeBytes = 1024
	// DefaultBodyBudgetBytes bounds the request bodies held in memory at
	// once: 64 MiB, room for 30 uploads at DefaultMaxRequestBytes or over
	// a thousand typical ones (100 records of about 500 bytes).
	DefaultBodyBudgetBytes = 64 << 20
	// DefaultBodyWait is how long a request waits for room in the body
	// budget before it is answered 503.
	DefaultBodyWait = 2 * time.Second
	// DefaultRetryAfter is the back-off sent with a 503 for a failed
	// store.
	DefaultRetryAfter = 1800 * time.Second
)

// Config configures a Handler. Store and Auth are required.
type Config struct {
	Store syncstore.Store
	Auth  *syncstore.Authenticator
	// Logger receives back-end failures and recovered panics (nil: none).
	Logger *zap.Logger
	// Clock is the time source for X-Weave-Timestamp on reads; it must be
	// the clock the store stamps writes with (nil: time.Now).
	Clock func() time.Time

	// PublicURL is the storage node URL that node/weave returns; a
	// trailing "/" is added. Empty: scheme://Host/ of each request, which
	// is only right when clients reach this server directly.
	PublicURL string
	// Registration defaults to RegistrationOpen.
	Registration RegistrationMode
	// Allowlist holds the usernames and e-mail addresses that may register
	// in allowlist mode. E-mail addresses also admit the username derived
	// from them (UsernameFromEmail).
	Allowlist []string
	// AllowPlainUsernames turns off the Reference's strict_usernames check
	// (registration e-mail must hash to the URL username, error 15), so
	// legacy plain usernames can register.
	AllowPlainUsernames bool
	// Captcha is nil when registration needs no captcha.
	Captcha *CaptchaConfig
	// SharedSecret, when set, lets a registration carrying it in
	// X-Weave-Secret skip the captcha.
	SharedSecret string

	// QuotaBytes is the stored payload bytes per user (0: no quota).
	QuotaBytes int64
	// MaxPostRecords and MaxPostBytes bound what one batch POST writes;
	// records beyond them fail with "retry wbo" / "retry bytes".
	MaxPostRecords int
	MaxPostBytes   int
	// MaxPayloadBytes bounds one record's payload.
	MaxPayloadBytes int
	// MaxRequestBytes bounds a request body; larger ones get 400 body 17
	// and nothing is written (0: MaxRequestBytesFor(MaxPostRecords,
	// MaxPostBytes), which fits the largest POST the limits let through).
	MaxRequestBytes int64
	// BodyBudgetBytes bounds the request body bytes all requests hold in
	// memory together (each body counts with its Content-Length, or
	// MaxRequestBytes when it has none, from before it is read until the
	// request is answered). A request that finds no room waits up to
	// BodyWait, then gets 503 with Retry-After. It must be at least
	// MaxRequestBytes (0: DefaultBodyBudgetBytes).
	BodyBudgetBytes int64
	// BodyWait is how long a request waits for room in the body budget
	// (0: DefaultBodyWait).
	BodyWait time.Duration
	// RetryAfter is sent as Retry-After and X-Weave-Backoff with 503s.
	RetryAfter time.Duration

	// AuthThrottle limits failed logins per username and per client
	// address; its zero value applies the defaults.
	AuthThrottle AuthThrottleConfig
	// ClientAddr returns the client's IP address (a port is allowed) for
	// the per-address throttle, e.g. the address a reverse proxy in front
	// reported (nil: the host of r.RemoteAddr). Requests whose address is
	// not an IP are only throttled per username.
	ClientAddr func(r *http.Request) string
}

// validate checks cfg and fills in defaults.
func (cfg *Config) validate() error {
	var errs []error
	if cfg.Store == nil {
		errs = append(errs, errors.New("a store is required"))
	}
	if cfg.Auth == nil {
		errs = append(errs, errors.New("an authenticator is required"))
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.PublicURL != "" {
		u, err := normalizePublicURL(cfg.PublicURL)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.PublicURL = u
	}
	switch cfg.Registration {
	case "":
		cfg.Registration = RegistrationOpen
	case RegistrationOpen, RegistrationClosed, RegistrationAllowlist:
	default:
		errs = append(errs, fmt.Errorf("registration mode %q is not one of open, closed, allowlist", cfg.Registration))
	}
	if cfg.Registration == RegistrationAllowlist && len(cfg.Allowlist) == 0 {
		errs = append(errs, errors.New("registration mode allowlist needs at least one allowlist entry"))
	}
	if cfg.Registration != RegistrationAllowlist && len(cfg.Allowlist) > 0 {
		errs = append(errs, fmt.Errorf("an allowlist is only used with registration mode allowlist, not %q", cfg.Registration))
	}
	for _, entry := range cfg.Allowlist {
		if !syncstore.ValidUsername(entry) && !validEmail(entry) {
			errs = append(errs, fmt.Errorf("allowlist entry %q is neither a username nor an e-mail address", entry))
		}
	}
	if c := cfg.Captcha; c != nil {
		if c.PublicKey == "" || c.PrivateKey == "" {
			errs = append(errs, errors.New("captcha needs both a public and a private key"))
		}
		if u, err := url.Parse(c.VerifyURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("captcha verify URL %q is not an absolute http(s) URL", c.VerifyURL))
		}
	}
	if cfg.QuotaBytes < 0 {
		errs = append(errs, fmt.Errorf("quota %d bytes is negative", cfg.QuotaBytes))
	}
	positive := func(name string, v *int, def int) {
		switch {
		case *v == 0:
			*v = def
		case *v < 0:
			errs = append(errs, fmt.Errorf("%s %d is negative", name, *v))
		}
	}
	positive("max post records", &cfg.MaxPostRecords, DefaultMaxPostRecords)
	positive("max post bytes", &cfg.MaxPostBytes, DefaultMaxPostBytes)
	positive("max payload bytes", &cfg.MaxPayloadBytes, DefaultMaxPayloadBytes)
	switch {
	case cfg.MaxRequestBytes == 0:
		cfg.MaxRequestBytes = MaxRequestBytesFor(cfg.MaxPostRecords, cfg.MaxPostBytes)
	case cfg.MaxRequestBytes < 0:
		errs = append(errs, fmt.Errorf("max request bytes %d is negative", cfg.MaxRequestBytes))
	}
	switch {
	case cfg.BodyBudgetBytes == 0:
		cfg.BodyBudgetBytes = max(DefaultBodyBudgetBytes, cfg.MaxRequestBytes)
	case cfg.BodyBudgetBytes < 0:
		errs = append(errs, fmt.Errorf("body budget %d bytes is negative", cfg.BodyBudgetBytes))
	case cfg.BodyBudgetBytes < cfg.MaxRequestBytes:
		errs = append(errs, fmt.Errorf("body budget %d bytes is less than max request bytes %d: the largest upload could never be read",
			cfg.BodyBudgetBytes, cfg.MaxRequestBytes))
	}
	switch {
	case cfg.BodyWait == 0:
		cfg.BodyWait = DefaultBodyWait
	case cfg.BodyWait < 0:
		errs = append(errs, fmt.Errorf("body wait %s is negative", cfg.BodyWait))
	}
	switch {
	case cfg.RetryAfter == 0:
		cfg.RetryAfter = DefaultRetryAfter
	case cfg.RetryAfter < time.Second:
		errs = append(errs, fmt.Errorf("retry after %s is less than a second", cfg.RetryAfter))
	}
	errs = append(errs, cfg.AuthThrottle.validate()...)
	return errors.Join(errs...)
}

// MaxRequestBytesFor is the request body limit that fits the largest POST
// the batch limits let through, with its JSON envelope:
//
//	maxPostRecords × RecordEnvelopeBytes + 2 × maxPostBytes
//
// Payloads are counted twice because Sync payloads are JSON inside a JSON
// string, whose quotes and backslashes arrive escaped; Firefox's encrypted
// payloads need far less. A larger body cannot be a legal POST and is
// refused whole (400 body 17) before it is read.
func MaxRequestBytesFor(maxPostRecords, maxPostBytes int) int64 {
	return int64(maxPostRecords)*RecordEnvelopeBytes + 2*int64(maxPostBytes)
}

// normalizePublicURL checks that s is an absolute http(s) URL a client can
// append "1.1/<user>/" to, and makes it end with "/".
func normalizePublicURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return s, fmt.Errorf("public URL %q is not an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return s, fmt.Errorf("public URL %q must not have credentials, a query or a fragment", s)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}
