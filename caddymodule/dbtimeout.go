package caddymodule

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/go-sql-driver/mysql"
)

// DefaultDBTimeout bounds each database call of the server when
// db_timeout is not set: long enough for any call a sync request makes on
// a healthy database, short enough that clients of a frozen one back off
// before their own timeouts.
const DefaultDBTimeout = 5 * time.Second

// DBTimeout is the db_timeout setting: a positive duration, zero for the
// default, or DBTimeoutOff. In JSON it is a duration string such as "5s"
// (or nanoseconds) or "off".
type DBTimeout caddy.Duration

// DBTimeoutOff turns the deadline off.
const DBTimeoutOff DBTimeout = -1

// MarshalJSON writes "off" or a duration string, which UnmarshalJSON (and
// so the Caddyfile adapter's output) reads back.
func (t DBTimeout) MarshalJSON() ([]byte, error) {
	if t < 0 {
		return []byte(`"off"`), nil
	}
	return json.Marshal(time.Duration(t).String())
}

// UnmarshalJSON accepts "off", a duration string or nanoseconds.
func (t *DBTimeout) UnmarshalJSON(b []byte) error {
	if string(b) == `"off"` {
		*t = DBTimeoutOff
		return nil
	}
	var d caddy.Duration
	if err := d.UnmarshalJSON(b); err != nil || d <= 0 {
		return fmt.Errorf(`database: db_timeout %s: want a positive duration such as "5s", or "off"`, b)
	}
	*t = DBTimeout(d)
	return nil
}

// parseDBTimeout reads the Caddyfile's db_timeout <duration>|off.
func parseDBTimeout(d *caddyfile.Dispenser) (DBTimeout, error) {
	s, err := oneArg(d)
	if err != nil {
		return 0, err
	}
	if s == "off" {
		return DBTimeoutOff, nil
	}
	v, err := caddy.ParseDuration(s)
	if err != nil || v <= 0 {
		return 0, d.Errf("db_timeout %q: want a positive duration such as 5s, or off", s)
	}
	return DBTimeout(v), nil
}

// timeout is the deadline of each of the server's database calls, 0 when
// off.
func (d Database) timeout() time.Duration {
	switch {
	case d.DBTimeout < 0:
		return 0
	case d.DBTimeout == 0:
		return DefaultDBTimeout
	}
	return time.Duration(d.DBTimeout)
}

// forServer is d as the server opens it. COMMIT takes no context in
// database/sql, so a commit the server never answers outlives any
// deadline; only the driver's I/O timeout ends it. With a deadline on and
// the DSN setting no readTimeout or writeTimeout of its own, both are set
// to the deadline (the store's default is 30 s). Operator commands open d
// as it is.
func (d Database) forServer() Database {
	t := d.timeout()
	if d.driver() != DriverMySQL || t == 0 {
		return d
	}
	cfg, err := mysql.ParseDSN(d.DSN)
	if err != nil {
		return d // opening reports it, without quoting the password
	}
	if cfg.ReadTimeout != 0 && cfg.WriteTimeout != 0 {
		return d
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = t
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = t
	}
	d.DSN = cfg.FormatDSN()
	return d
}
