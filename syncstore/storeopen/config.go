// Package storeopen opens a native store by driver and location. It is the
// one place that knows both backends: the server's "database" setting,
// every operator command and the migrate tool's native side describe the
// database with its Config and, on the command line, with its flags
// (--db, --data, --dsn, --create).
package storeopen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// Drivers.
const (
	DriverSQLite = "sqlite"
	DriverMySQL  = "mysql"
)

// DefaultDir is where SQLite keeps its file when no directory is given.
const DefaultDir = "./data"

// DSNEnv holds the MySQL DSN when no --dsn is given, so the password stays
// out of shell history and process listings. Being set selects MySQL
// unless --db (or --data) says otherwise.
const DSNEnv = "SYNCSERVER_MYSQL_DSN"

// ErrNoDatabase: the database to open does not exist and Config.Create
// was not set.
var ErrNoDatabase = errors.New("no database")

// Config describes one native database.
type Config struct {
	// Driver is DriverSQLite ("" too) or DriverMySQL.
	Driver string
	// Dir is the SQLite data directory (DefaultDir if empty); the
	// database is the file sqlitestore.DBFile in it.
	Dir string
	// DSN is the MySQL data source name; it must name a database.
	DSN string
	// MySQL pool settings; zero values take mysqlstore's defaults.
	MaxOpenConns, MaxIdleConns int
	ConnMaxLifetime            time.Duration
	// Create allows Open to create what is missing: the SQLite directory
	// and file, or the tables of an empty MySQL database. The server does;
	// operator commands only when asked (--create), so that a typo or a
	// forgotten --db never yields a fresh, empty database that looks like
	// the real one.
	Create bool
	// Logger receives the MySQL driver's messages; nil leaves them on
	// standard error.
	Logger *zap.Logger
}

// DriverName is Driver with the default applied.
func (c Config) DriverName() string {
	if c.Driver == "" {
		return DriverSQLite
	}
	return c.Driver
}

// SQLiteDir is the absolute SQLite data directory.
func (c Config) SQLiteDir() (string, error) {
	dir := c.Dir
	if dir == "" {
		dir = DefaultDir
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("SQLite data directory %q: %w", dir, err)
	}
	return abs, nil
}

// Validate checks that the settings fit the driver.
func (c Config) Validate() error {
	switch c.DriverName() {
	case DriverSQLite:
		if c.DSN != "" {
			return errors.New("a dsn is for the mysql driver; sqlite uses a data directory")
		}
		if c.MaxOpenConns != 0 || c.MaxIdleConns != 0 || c.ConnMaxLifetime != 0 {
			return errors.New("max_open_conns, max_idle_conns and conn_max_lifetime are for the mysql driver")
		}
	case DriverMySQL:
		if c.DSN == "" {
			return fmt.Errorf("the mysql driver needs a dsn such as user:password@tcp(host:3306)/dbname")
		}
		if c.Dir != "" {
			return errors.New("the data dir is for the sqlite driver; mysql uses a dsn")
		}
		if c.MaxOpenConns < 0 || c.MaxIdleConns < 0 || c.ConnMaxLifetime < 0 {
			return errors.New("max_open_conns, max_idle_conns and conn_max_lifetime must not be negative")
		}
	default:
		return fmt.Errorf("unknown driver %q: want %s or %s", c.Driver, DriverSQLite, DriverMySQL)
	}
	return nil
}

// Label names the database for operators without secrets: the SQLite
// file, or the MySQL server address and database name.
func (c Config) Label() string {
	if c.DriverName() == DriverSQLite {
		dir, err := c.SQLiteDir()
		if err != nil {
			dir = c.Dir
		}
		return "SQLite database " + filepath.Join(dir, sqlitestore.DBFile)
	}
	if cfg, err := mysql.ParseDSN(c.DSN); err == nil {
		return "MySQL database " + cfg.DBName + " on " + cfg.Addr
	}
	return "MySQL database"
}

// Open opens the database c describes, applying pending schema
// migrations. Without Create, a SQLite file or MySQL tables that do not
// exist yet are an error wrapping ErrNoDatabase that names what is
// missing. The returned store also implements the route table and the
// migrator's import/export.
func Open(ctx context.Context, c Config) (syncstore.Store, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.DriverName() {
	case DriverSQLite:
		dir, err := c.SQLiteDir()
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, sqlitestore.DBFile)
		if !c.Create {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w: %s does not exist", ErrNoDatabase, path)
			} else if err != nil {
				return nil, fmt.Errorf("SQLite database %s: %w", path, err)
			}
		}
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Dir: dir})
		if err != nil {
			return nil, fmt.Errorf("opening SQLite database %s: %w", path, err)
		}
		return s, nil
	default:
		if !c.Create {
			if err := mysqlHasTables(ctx, c.DSN); err != nil {
				return nil, err
			}
		}
		s, err := mysqlstore.Open(ctx, mysqlstore.Config{
			DSN:             c.DSN,
			MaxOpenConns:    c.MaxOpenConns,
			MaxIdleConns:    c.MaxIdleConns,
			ConnMaxLifetime: c.ConnMaxLifetime,
			Logger:          c.Logger,
		})
		if err != nil {
			// mysqlstore's errors never include the password.
			return nil, fmt.Errorf("opening %s: %w", c.Label(), err)
		}
		return s, nil
	}
}

// mysqlHasTables reports ErrNoDatabase when the DSN's database has no
// users table: a new or wrong database, which only the server (or
// --create) may fill.
func mysqlHasTables(ctx context.Context, dsn string) error {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return fmt.Errorf("opening MySQL database: the DSN does not parse: %w", err)
	}
	label := "MySQL database " + cfg.DBName + " on " + cfg.Addr
	if cfg.DBName == "" {
		return fmt.Errorf("opening MySQL database on %s: the DSN names no database (…/dbname)", cfg.Addr)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'users'`).Scan(&n)
	if err != nil {
		return fmt.Errorf("opening %s: %w", label, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s has no syncserver tables", ErrNoDatabase, label)
	}
	return nil
}
