package bench

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

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// Kinds of in-process server that --local starts.
const (
	LocalSQLite = "sqlite"
	LocalMySQL  = "mysql"
)

// LocalOptions configure the in-process servers of --local.
type LocalOptions struct {
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

// LocalServer is a native server started in this process on loopback:
// the protocol handler on one store, as the Caddy module serves it minus
// Caddy itself. Load generator and server share the machine and the Go
// runtime, equally for every kind, so the comparison between kinds holds
// while absolute numbers are lower than with a separate server process.
type LocalServer struct {
	Target Target
	Store  syncstore.Store

	srv     *http.Server
	cleanup []func() error
}

// StartLocal starts one in-process server of the given kind.
func StartLocal(ctx context.Context, kind string, opts LocalOptions) (*LocalServer, error) {
	s := &LocalServer{}
	var err error
	switch kind {
	case LocalSQLite:
		err = s.openSQLite(ctx, opts)
	case LocalMySQL:
		err = s.openMySQL(ctx, opts)
	default:
		err = fmt.Errorf("unknown local server kind %q (want %s or %s)", kind, LocalSQLite, LocalMySQL)
	}
	if err == nil {
		err = s.serve(kind, opts)
	}
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

func (s *LocalServer) openSQLite(ctx context.Context, opts LocalOptions) error {
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "syncserver-bench-sqlite-")
		if err != nil {
			return fmt.Errorf("creating the SQLite directory: %w", err)
		}
		dir = tmp
		if !opts.Keep {
			s.cleanup = append(s.cleanup, func() error { return os.RemoveAll(tmp) })
		}
	}
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Dir: filepath.Clean(dir)})
	if err != nil {
		return fmt.Errorf("opening SQLite in %s: %w", dir, err)
	}
	s.Store = st
	s.cleanup = append(s.cleanup, st.Close)
	return nil
}

func (s *LocalServer) openMySQL(ctx context.Context, opts LocalOptions) error {
	cfg, err := mysql.ParseDSN(opts.MySQLDSN)
	if err != nil {
		return fmt.Errorf("MySQL DSN: %w", err)
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	name := "bch_" + hex.EncodeToString(b[:])
	cfg.DBName = ""
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return fmt.Errorf("connecting to MySQL: %w", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
	}
	if !opts.Keep {
		s.cleanup = append(s.cleanup, func() error {
			db, err := sql.Open("mysql", cfg.FormatDSN())
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
	st, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: cfg.FormatDSN()})
	if err != nil {
		return fmt.Errorf("opening MySQL database %s: %w", name, err)
	}
	s.Store = st
	s.cleanup = append(s.cleanup, st.Close)
	return nil
}

func (s *LocalServer) serve(kind string, opts LocalOptions) error {
	logger := opts.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	auth, err := syncstore.NewAuthenticator(s.Store, syncstore.AuthConfig{BcryptCost: opts.BcryptCost, Logger: logger})
	if err != nil {
		return err
	}
	h, err := httpapi.New(httpapi.Config{Store: s.Store, Auth: auth, Logger: logger, Registration: httpapi.RegistrationOpen})
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
	s.Target = Target{Name: kind, URL: u}
	return nil
}

// Close stops the server and removes what StartLocal created (unless
// Keep), last created first.
func (s *LocalServer) Close() error {
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
