package memcache

import (
	"errors"
	"fmt"
	"time"
)

// Config configures New. Zero values take the defaults below.
type Config struct {
	// Servers are memcached addresses, "host:port" or the path of a Unix
	// socket. Keys are spread over them. Required.
	Servers []string
	// Prefix starts every key, so several installations (or a test run)
	// can share one memcached. Default "syncserver:".
	Prefix string
	// TTL is how long a cached answer is kept. It bounds how long another
	// instance may serve a stale answer if an invalidation is lost for
	// good. Default 5m; at most 30 days (memcached's limit for relative
	// expirations).
	TTL time.Duration
	// Timeout bounds each memcached call (connecting, and each read or
	// write on the connection). Default 100ms.
	Timeout time.Duration
	// Cooldown is how long reads skip memcached after a memcached call
	// failed, so a dead memcached does not cost a Timeout on every
	// request. Default 1s.
	Cooldown time.Duration
	// MaxIdleConns is the number of idle connections kept per server;
	// set it near the expected number of concurrent requests. Default 16.
	MaxIdleConns int
}

// Defaults for the zero values of Config.
const (
	DefaultPrefix       = "syncserver:"
	DefaultTTL          = 5 * time.Minute
	DefaultTimeout      = 100 * time.Millisecond
	DefaultCooldown     = time.Second
	DefaultMaxIdleConns = 16

	// maxTTL is the longest relative expiration memcached accepts; longer
	// values are read as absolute Unix times.
	maxTTL = 30 * 24 * time.Hour
	// maxPrefixLen leaves room under memcached's 250-byte key limit for
	// the longest key this package builds.
	maxPrefixLen = 150
)

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Cooldown == 0 {
		c.Cooldown = DefaultCooldown
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	return c
}

func (c Config) validate() error {
	if len(c.Servers) == 0 {
		return errors.New("at least one memcached server is required")
	}
	if len(c.Prefix) > maxPrefixLen {
		return fmt.Errorf("prefix is %d bytes, at most %d allowed", len(c.Prefix), maxPrefixLen)
	}
	for i := 0; i < len(c.Prefix); i++ {
		if b := c.Prefix[i]; b <= ' ' || b >= 0x7f {
			return fmt.Errorf("prefix %q: memcached keys cannot contain spaces, control or non-ASCII characters", c.Prefix)
		}
	}
	if c.TTL < time.Second || c.TTL > maxTTL {
		return fmt.Errorf("ttl %v: must be between 1s and %v", c.TTL, maxTTL)
	}
	if c.Timeout < 0 || c.Cooldown < 0 || c.MaxIdleConns < 0 {
		return errors.New("timeout, cooldown and max idle connections must not be negative")
	}
	return nil
}
