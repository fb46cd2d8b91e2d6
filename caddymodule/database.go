package caddymodule

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// Database drivers (the driver field).
const (
	DriverSQLite = storeopen.DriverSQLite
	DriverMySQL  = storeopen.DriverMySQL
)

// DefaultDataDir is where SQLite keeps its file when no dir is given.
const DefaultDataDir = storeopen.DefaultDir

// openTimeout bounds connecting and migrating at start-up, so that an
// unreachable MySQL server fails a config load instead of hanging it.
const openTimeout = 30 * time.Second

// Database chooses the storage back-end.
type Database struct {
	// Driver is "sqlite" (default; one file, for a single server) or
	// "mysql" (MySQL or MariaDB, for several servers or large installs).
	Driver string `json:"driver,omitempty"`

	// Dir is the SQLite data directory, created with mode 0700 if
	// missing. Relative paths are relative to Caddy's working directory.
	// Default "./data". SQLite only.
	Dir string `json:"dir,omitempty"`

	// DSN is the MySQL data source name, e.g.
	// "sync:secret@tcp(db.internal:3306)/sync". The database must exist;
	// tables are created on first start. Placeholders are replaced, so
	// "{env.SYNCSERVER_MYSQL_DSN}" keeps the password out of the config.
	// Required for MySQL.
	DSN string `json:"dsn,omitempty"`

	// MaxOpenConns limits the MySQL connections of this process.
	// Default 20. MySQL only.
	MaxOpenConns int `json:"max_open_conns,omitempty"`

	// MaxIdleConns is how many idle MySQL connections are kept for reuse.
	// Default 20, as many as may be open. MySQL only.
	MaxIdleConns int `json:"max_idle_conns,omitempty"`

	// ConnMaxLifetime recycles MySQL connections after this long, which
	// keeps them below the server's wait_timeout. Default 5m. MySQL only.
	ConnMaxLifetime caddy.Duration `json:"conn_max_lifetime,omitempty"`

	// DBTimeout bounds every database call of the server, waits for a
	// pool connection included; a request whose call runs out gets 503
	// with Retry-After. Default 5s; "off" disables it. Operator commands
	// have none. See dbtimeout.go.
	DBTimeout DBTimeout `json:"db_timeout,omitempty"`
}

func (d Database) driver() string {
	if d.Driver == "" {
		return DriverSQLite
	}
	return d.Driver
}

func (d Database) dir() string {
	if d.Dir == "" {
		return DefaultDataDir
	}
	return d.Dir
}

func (d Database) validate() error {
	if d.driver() == DriverMySQL && d.DSN == "" {
		return fmt.Errorf("database: the mysql driver needs a dsn such as user:password@tcp(host:3306)/dbname (empty after replacing placeholders: is the environment variable set?)")
	}
	// The settings' rules are storeopen's, shared with the operator
	// commands; Dir is checked as written so that a dir given with mysql
	// is refused.
	c := d.storeConfig()
	c.Dir = d.Dir
	if err := c.Validate(); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	return nil
}

// open opens a store of its own, creating the database if it is new (the
// server does; operator commands open through storeopen.OpenFlags, which
// does not). The context only bounds connecting and migrating.
func (d Database) open(ctx context.Context) (syncstore.Store, error) {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	return storeopen.Open(ctx, d.storeConfig())
}

// storeConfig is d as the store opener takes it.
func (d Database) storeConfig() storeopen.Config {
	c := storeopen.Config{
		Driver:          d.driver(),
		DSN:             d.DSN,
		MaxOpenConns:    d.MaxOpenConns,
		MaxIdleConns:    d.MaxIdleConns,
		ConnMaxLifetime: time.Duration(d.ConnMaxLifetime),
		Create:          true,
	}
	if c.Driver == DriverSQLite {
		c.Dir = d.dir()
	}
	return c
}

// poolKey identifies an open database. Pool settings and db_timeout are
// part of it, so changing them reopens the pool on reload; the DSN is
// compared but never logged.
func (d Database) poolKey() (string, error) {
	switch d.driver() {
	case DriverSQLite:
		abs, err := filepath.Abs(d.dir())
		if err != nil {
			return "", fmt.Errorf("database dir %q: %w", d.dir(), err)
		}
		return DriverSQLite + "|" + abs + "|" + d.timeout().String(), nil
	default:
		return d.driver() + "|" + d.DSN + "|" + strconv.Itoa(d.MaxOpenConns) + "|" +
			strconv.Itoa(d.MaxIdleConns) + "|" + time.Duration(d.ConnMaxLifetime).String() + "|" + d.timeout().String(), nil
	}
}

// identity names the data d opens, whatever the pool settings: two
// databases with one identity are the same data (shards must differ).
// The password is not part of it.
func (d Database) identity() (string, error) {
	if d.driver() == DriverSQLite {
		abs, err := filepath.Abs(d.dir())
		if err != nil {
			return "", fmt.Errorf("database dir %q: %w", d.dir(), err)
		}
		return DriverSQLite + "|" + abs, nil
	}
	if cfg, err := mysql.ParseDSN(d.DSN); err == nil {
		return DriverMySQL + "|" + cfg.Net + "|" + cfg.Addr + "/" + cfg.DBName, nil
	}
	return DriverMySQL + "|" + d.DSN, nil
}

// label names the database for operators (admin API) without secrets:
// the SQLite directory, or the MySQL server address and database name.
func (d Database) label() string {
	if d.driver() == DriverSQLite {
		if abs, err := filepath.Abs(d.dir()); err == nil {
			return DriverSQLite + ":" + abs
		}
		return DriverSQLite + ":" + d.dir()
	}
	if cfg, err := mysql.ParseDSN(d.DSN); err == nil {
		return DriverMySQL + ":" + cfg.Addr + "/" + cfg.DBName
	}
	return DriverMySQL
}

// zapFields describe d for logs without the DSN (it may hold a password).
func (d Database) zapFields() []zap.Field {
	if d.driver() == DriverSQLite {
		return []zap.Field{zap.String("driver", DriverSQLite), zap.String("dir", d.dir())}
	}
	return []zap.Field{zap.String("driver", d.driver())}
}

// databases holds the stores opened by firefox_sync handlers, reference
// counted by config. A config reload provisions the new handlers before
// cleaning up the old ones, so a database that both configs use is never
// closed: SQLite is not reopened and MySQL connections are not dropped.
// It is package state because it must outlive any one config, the same
// pattern as the reverse proxy's upstream hosts pool.
var databases = caddy.NewUsagePool()

// pooledStore closes its store when the last handler releases it. It
// also holds the database's routing state (route cache, configured legacy
// nodes), so that every handler on the database (several sites, reloads)
// shares one, and the admin API can invalidate and consult it.
type pooledStore struct {
	syncstore.Store
	label  string       // names the database to operators, without secrets
	routes *shim.Routes // nil when the store has no route table
	// directories counts the loaded handlers whose own database (their
	// route table) this is; the admin API lists only those, not shards.
	directories atomic.Int32
}

func (p *pooledStore) Destruct() error {
	return p.Store.Close()
}

// acquireStore returns the shared store for d, opening it if no loaded
// config uses it yet (reused tells which). Every successful call must be
// paired with releaseStore(key).
func acquireStore(ctx context.Context, d Database) (store *pooledStore, key string, reused bool, err error) {
	key, err = d.poolKey()
	if err != nil {
		return nil, "", false, err
	}
	v, reused, err := databases.LoadOrNew(key, func() (caddy.Destructor, error) {
		// The store outlives this config, so its opening must not be
		// tied to the config's context beyond the timeout.
		s, err := d.forServer().open(context.WithoutCancel(ctx))
		if err != nil {
			return nil, err
		}
		s = deadline.Wrap(s, d.timeout())
		p := &pooledStore{Store: s, label: d.label()}
		if t, err := routesOf(s); err == nil {
			p.routes = shim.NewRoutes(t)
		}
		return p, nil
	})
	if err != nil {
		return nil, "", false, err
	}
	return v.(*pooledStore), key, reused, nil
}

// releaseStore drops one reference and reports whether it closed the
// store.
func releaseStore(key string) (closed bool, err error) {
	return databases.Delete(key)
}
