package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	handler := &Handler{helper: &h}
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	handler.helper = nil
	if err != nil {
		return nil, err
	}
	return handler, nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	firefox_sync [<matcher>] {
//	    database sqlite [<dir>]
//	    database mysql [<dsn>] {
//	        dsn               <dsn>
//	        max_open_conns    <n>
//	        max_idle_conns    <n>
//	        conn_max_lifetime <duration>
//	        db_timeout        <duration>|off
//	    }
//	    shard <name> {
//	        database sqlite|mysql ...   (as above)
//	        weight   <n>
//	        closed
//	    }
//	    memcached <host:port...> {
//	        prefix  <string>
//	        ttl     <duration>
//	        timeout <duration>
//	    }
//	    public_url            <url>
//	    registration          open|closed|allowlist [<user-or-email...>]
//	    allowlist             <user-or-email...>
//	    allow_plain_usernames
//	    captcha               <public_key> <private_key> [<verify_url>]
//	    shared_secret         <secret>
//	    quota                 <size>|off
//	    max_post_records      <n>
//	    max_post_bytes        <size>
//	    max_payload_bytes     <size>
//	    max_request_bytes     <size>
//	    body_budget_bytes     <size>
//	    body_wait             <duration>
//	    retry_after           <duration>
//	    bcrypt_cost           <n>
//	    auth_cache_ttl        <duration>
//	    auth_cache_size       <n>|off
//	    auth_throttle         [off] {
//	        per_user    <n>|off
//	        per_address <n>|off
//	        window      <duration>
//	        max_backoff <duration>
//	        max_entries <n>
//	    }
//	    purge_interval        <duration>|off
//	    legacy {
//	        node <name> {
//	            reverse_proxy <upstreams...> { ... }
//	        }
//	        default_state   legacy|native
//	        new_users       native|<node>
//	        host_node       <node>
//	        route_cache_ttl <duration>|off
//	        timeout         <duration>
//	        retry_after     <duration>
//	        migrating_retry_after <duration>
//	        stats_interval  <duration>
//	    }
//	}
//
// Sizes are bytes or units such as 5MiB (1024-based) or 5MB (1000-based).
// The sqlite database also takes "dir <path>" in its block, and captcha
// takes a block with public_key, private_key and verify_url.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.Errf("unexpected argument %q: firefox_sync takes its settings in a block", d.Val())
	}
	seen := once{}
	for d.NextBlock(0) {
		var err error
		sub := d.Val()
		if sub != "shard" && sub != "allowlist" { // the repeatable ones
			if err := seen.check(d); err != nil {
				return err
			}
		}
		switch sub {
		case "database":
			h.Database, err = parseDatabase(d)
		case "shard":
			var sh Shard
			sh, err = parseShard(d)
			h.Shards = append(h.Shards, sh)
		case "memcached":
			h.Memcached, err = parseMemcached(d)
		case "public_url":
			h.PublicURL, err = oneArg(d)
		case "registration":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Registration = args[0]
			h.Allowlist = append(h.Allowlist, args[1:]...)
		case "allowlist":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			h.Allowlist = append(h.Allowlist, args...)
		case "allow_plain_usernames":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.AllowPlainUsernames = true
		case "captcha":
			h.Captcha, err = parseCaptcha(d)
		case "shared_secret":
			h.SharedSecret, err = oneArg(d)
		case "quota":
			var q int64
			q, err = sizeOrOff(d)
			h.QuotaBytes = &q
		case "max_post_records":
			h.MaxPostRecords, err = positiveIntArg(d)
		case "max_post_bytes":
			var n int64
			n, err = sizeArg(d)
			h.MaxPostBytes = int(n)
		case "max_payload_bytes":
			var n int64
			n, err = sizeArg(d)
			h.MaxPayloadBytes = int(n)
		case "max_request_bytes":
			h.MaxRequestBytes, err = sizeArg(d)
		case "body_budget_bytes":
			h.BodyBudgetBytes, err = sizeArg(d)
		case "body_wait":
			h.BodyWait, err = durationArg(d)
		case "retry_after":
			h.RetryAfter, err = durationArg(d)
		case "bcrypt_cost":
			h.BcryptCost, err = positiveIntArg(d)
		case "auth_cache_ttl":
			h.AuthCacheTTL, err = durationArg(d)
		case "auth_cache_size":
			var s string
			if s, err = oneArg(d); err == nil {
				if s == "off" {
					h.AuthCacheSize = -1
				} else if h.AuthCacheSize, err = strconv.Atoi(s); err != nil {
					err = d.Errf("auth_cache_size %q: want a number or off", s)
				} else if h.AuthCacheSize == 0 {
					err = zeroIsDefault(d, "auth_cache_size", s, true)
				}
			}
		case "auth_throttle":
			h.AuthThrottle, err = parseAuthThrottle(d)
		case "legacy":
			h.Legacy, err = parseLegacy(d, h.helper)
		case "purge_interval":
			var s string
			if s, err = oneArg(d); err == nil {
				var every caddy.Duration
				if s != "off" {
					every, err = parseDuration(d, "purge_interval", s)
				}
				h.PurgeInterval = &every
			}
		default:
			return d.Errf("unknown subdirective %q", sub)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseDatabase(d *caddyfile.Dispenser) (*Database, error) {
	db := new(Database)
	if !d.NextArg() {
		return nil, d.ArgErr()
	}
	db.Driver = d.Val()
	seen := once{}
	if d.NextArg() {
		switch db.Driver {
		case DriverSQLite:
			db.Dir = d.Val()
			seen["dir"] = true
		case DriverMySQL:
			db.DSN = d.Val()
			seen["dsn"] = true
		default:
			return nil, d.Errf("unknown database driver %q: want sqlite or mysql", db.Driver)
		}
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := seen.check(d); err != nil {
			return nil, err
		}
		var err error
		switch sub := d.Val(); sub {
		case "dir":
			db.Dir, err = oneArg(d)
		case "dsn":
			db.DSN, err = oneArg(d)
		case "max_open_conns":
			db.MaxOpenConns, err = positiveIntArg(d)
		case "max_idle_conns":
			db.MaxIdleConns, err = positiveIntArg(d)
		case "conn_max_lifetime":
			db.ConnMaxLifetime, err = durationArg(d)
		case "db_timeout":
			db.DBTimeout, err = parseDBTimeout(d)
		default:
			return nil, d.Errf("unknown database subdirective %q", sub)
		}
		if err != nil {
			return nil, err
		}
	}
	return db, nil
}

func parseMemcached(d *caddyfile.Dispenser) (*Memcached, error) {
	m := &Memcached{Servers: d.RemainingArgs()}
	seen := once{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() != "servers" { // repeatable: the lists add up
			if err := seen.check(d); err != nil {
				return nil, err
			}
		}
		var err error
		switch sub := d.Val(); sub {
		case "servers":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return nil, d.ArgErr()
			}
			m.Servers = append(m.Servers, args...)
		case "prefix":
			m.Prefix, err = oneArg(d)
		case "ttl":
			m.TTL, err = durationArg(d)
		case "timeout":
			m.Timeout, err = durationArg(d)
		default:
			return nil, d.Errf("unknown memcached subdirective %q", sub)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(m.Servers) == 0 {
		return nil, d.Err("memcached needs at least one server address (host:port)")
	}
	return m, nil
}

func parseCaptcha(d *caddyfile.Dispenser) (*Captcha, error) {
	c := new(Captcha)
	seen := once{}
	switch args := d.RemainingArgs(); len(args) {
	case 0:
	case 2, 3:
		c.PublicKey, c.PrivateKey = args[0], args[1]
		seen["public_key"], seen["private_key"] = true, true
		if len(args) == 3 {
			c.VerifyURL = args[2]
			seen["verify_url"] = true
		}
	default:
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if err := seen.check(d); err != nil {
			return nil, err
		}
		var err error
		switch sub := d.Val(); sub {
		case "public_key":
			c.PublicKey, err = oneArg(d)
		case "private_key":
			c.PrivateKey, err = oneArg(d)
		case "verify_url":
			c.VerifyURL, err = oneArg(d)
		default:
			return nil, d.Errf("unknown captcha subdirective %q", sub)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// oneArg reads exactly one argument of the current subdirective.
func oneArg(d *caddyfile.Dispenser) (string, error) {
	if !d.NextArg() {
		return "", d.ArgErr()
	}
	v := d.Val()
	if d.NextArg() {
		return "", d.ArgErr()
	}
	return v, nil
}

// once refuses a setting given a second time in one block: the later
// value would silently replace the earlier one.
type once map[string]bool

func (o once) check(d *caddyfile.Dispenser) error {
	name := d.Val()
	if o[name] {
		return d.Errf("%s given twice: the second would silently replace the first; keep one", name)
	}
	o[name] = true
	return nil
}

// zeroIsDefault is the error for a setting written as 0 where the
// configuration takes 0 to mean "use the default": honouring neither the
// 0 nor saying so would mislead. orOff tells that the setting can be
// turned off with the word off. (Negative values are Validate's to
// refuse, with the JSON field's name.)
func zeroIsDefault(d *caddyfile.Dispenser, name, s string, orOff bool) error {
	off := ""
	if orOff {
		off = ", or write off"
	}
	return d.Errf("%s %s: must be positive (0 would mean the default; leave %s out for that%s)", name, s, name, off)
}

// positiveIntArg reads a whole number other than 0 (see zeroIsDefault).
func positiveIntArg(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	n, err := intArg(d)
	if err == nil && n == 0 {
		err = zeroIsDefault(d, name, d.Val(), false)
	}
	return n, err
}

func intArg(d *caddyfile.Dispenser) (int, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, d.Errf("%s %q: not a whole number", name, s)
	}
	return n, nil
}

func sizeArg(d *caddyfile.Dispenser) (int64, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	n, err := parseSize(d, name, s)
	if err == nil && n == 0 {
		err = zeroIsDefault(d, name, s, false)
	}
	return n, err
}

// sizeOrOff reads a size, or "off" as 0.
func sizeOrOff(d *caddyfile.Dispenser) (int64, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil || s == "off" {
		return 0, err
	}
	return parseSize(d, name, s)
}

func parseSize(d *caddyfile.Dispenser, name, s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n > 1<<62 {
		return 0, d.Errf("%s %q: not a size (examples: 1048576, 1MiB, 5MB)", name, s)
	}
	return int64(n), nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name := d.Val()
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	v, err := parseDuration(d, name, s)
	if err == nil && v == 0 {
		err = zeroIsDefault(d, name, s, false)
	}
	return v, err
}

func parseDuration(d *caddyfile.Dispenser, name, s string) (caddy.Duration, error) {
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%s %q: not a duration (examples: 90s, 30m, 1h)", name, s)
	}
	return caddy.Duration(v), nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Handler)(nil)
