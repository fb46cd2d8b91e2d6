// Package local starts the servers that syncserver-benchlocal benches
// in-process, on loopback: the native handler on SQLite or MariaDB, the
// FSyncMS stand-in of migrate/legacytest, and the migration shim in Caddy
// in front of one. It lives apart from bench so that the syncserver
// binary links neither the stand-in nor Caddy's shim set-up for the
// bench.
package local

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/bench"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// Kinds of in-process server that --local starts.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
	// Legacy is the FSyncMS stand-in on a fresh bch_ database: the legacy
	// PHP server the shim replaces.
	Legacy = "legacy"
	// Shim is syncserver as Caddy runs it, with a legacy block proxying
	// every user to its own FSyncMS stand-in.
	Shim = "shim"
)

// Options configure the in-process servers.
type Options struct {
	// Dir holds the SQLite database; "" means a temporary directory.
	Dir string
	// MySQLDSN reaches the MariaDB/MySQL server (no database name needed):
	// a database named bch_<random> is created there.
	MySQLDSN string
	// Keep leaves the databases in place after the run.
	Keep bool
	// BcryptCost is the server's cost; seeding uses the same so logins
	// never trigger a rehash.
	BcryptCost int
	Logger     *zap.Logger
}

// Server is a native server started in this process on loopback:
// the protocol handler on one store, as the Caddy module serves it minus
// Caddy itself. Load generator and server share the machine and the Go
// runtime, equally for every kind, so the comparison between kinds holds
// while absolute numbers are lower than with a separate server process.
type Server struct {
	Target bench.Target
	// Seeder writes the data set: into the native store, or into the
	// stand-in's FSyncMS database for legacy and shim.
	Seeder bench.Seeder

	store syncstore.Store

	srv     *http.Server
	cleanup []func() error
}

// Start starts one in-process server of the given kind.
func Start(ctx context.Context, kind string, opts Options) (*Server, error) {
	s := &Server{}
	var err error
	switch kind {
	case SQLite:
		if err = s.openSQLite(ctx, opts); err == nil {
			err = s.serve(kind, opts)
		}
	case MySQL:
		if err = s.openMySQL(ctx, opts); err == nil {
			err = s.serve(kind, opts)
		}
	case Legacy:
		var addr string
		if addr, err = s.startStandIn(ctx, opts); err == nil {
			s.Target = bench.Target{Name: kind, URL: &url.URL{Scheme: "http", Host: addr, Path: "/"}, Legacy: true}
		}
	case Shim:
		err = s.startShim(ctx, opts)
	default:
		err = fmt.Errorf("unknown local server kind %q (want %s, %s, %s or %s)", kind, SQLite, MySQL, Shim, Legacy)
	}
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// sqliteDir is opts.Dir or a new temporary directory (removed at Close
// unless Keep).
func (s *Server) sqliteDir(opts Options) (string, error) {
	if opts.Dir != "" {
		return filepath.Clean(opts.Dir), nil
	}
	tmp, err := os.MkdirTemp("", "syncserver-bench-sqlite-")
	if err != nil {
		return "", fmt.Errorf("creating the SQLite directory: %w", err)
	}
	if !opts.Keep {
		s.cleanup = append(s.cleanup, func() error { return os.RemoveAll(tmp) })
	}
	return tmp, nil
}

func (s *Server) openSQLite(ctx context.Context, opts Options) error {
	dir, err := s.sqliteDir(opts)
	if err != nil {
		return err
	}
	// A new database in a directory of its own: created on purpose.
	st, err := storeopen.Open(ctx, storeopen.Config{Driver: storeopen.DriverSQLite, Dir: dir, Create: true})
	if err != nil {
		return err
	}
	s.setStore(st, opts)
	return nil
}

func (s *Server) openMySQL(ctx context.Context, opts Options) error {
	cfg, err := s.createDatabase(ctx, opts)
	if err != nil {
		return err
	}
	// createDatabase just made it empty: its tables are created on purpose.
	st, err := storeopen.Open(ctx, storeopen.Config{Driver: storeopen.DriverMySQL, DSN: cfg.FormatDSN(), Create: true})
	if err != nil {
		return err
	}
	s.setStore(st, opts)
	return nil
}

// setStore makes st the server's store, seeded directly and closed with
// the server.
func (s *Server) setStore(st syncstore.Store, opts Options) {
	s.store = st
	s.Seeder = bench.StoreSeeder(st, opts.BcryptCost)
	s.cleanup = append(s.cleanup, st.Close)
}

// createDatabase creates a database bch_<random> on the MariaDB/MySQL
// server of opts.MySQLDSN, dropped at Close unless Keep, and returns the
// DSN configuration that reaches it.
func (s *Server) createDatabase(ctx context.Context, opts Options) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(opts.MySQLDSN)
	if err != nil {
		return nil, fmt.Errorf("MySQL DSN: %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	name := "bch_" + hex.EncodeToString(b[:])
	cfg.DBName = ""
	serverDSN := cfg.FormatDSN()
	admin, err := sql.Open("mysql", serverDSN)
	if err != nil {
		return nil, fmt.Errorf("connecting to MySQL: %w", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	if !opts.Keep {
		s.cleanup = append(s.cleanup, func() error {
			db, err := sql.Open("mysql", serverDSN)
			if err != nil {
				return err
			}
			defer db.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
				return fmt.Errorf("dropping database %s: %w", name, err)
			}
			return nil
		})
	}
	cfg.DBName = name
	return cfg, nil
}

func (s *Server) serve(kind string, opts Options) error {
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	auth, err := syncstore.NewAuthenticator(s.store, syncstore.AuthConfig{BcryptCost: opts.BcryptCost, Logger: logger})
	if err != nil {
		return err
	}
	h, err := httpapi.New(httpapi.Config{Store: s.store, Auth: auth, Logger: logger, Registration: httpapi.RegistrationOpen})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listening on loopback: %w", err)
	}
	s.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	u := &url.URL{Scheme: "http", Host: ln.Addr().String(), Path: "/"}
	s.Target = bench.Target{Name: kind, URL: u}
	return nil
}

// Close stops the server and removes what StartLocal created (unless
// Keep), last created first.
func (s *Server) Close() error {
	var errs []error
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, s.srv.Shutdown(ctx))
		cancel()
	}
	for i := len(s.cleanup) - 1; i >= 0; i-- {
		errs = append(errs, s.cleanup[i]())
	}
	s.cleanup = nil
	return errors.Join(errs...)
}
