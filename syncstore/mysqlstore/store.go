package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore"

	"github.com/syncserver/syncserver/syncstore/sqlstore"
)

// Store is a syncstore.Store, syncstore.RouteTable and
// syncstore.BulkStore on MySQL or MariaDB: the shared query layer
// (sqlstore) over one connection pool. It is safe for concurrent use,
// also by several server instances sharing one database.
type Store struct {
	*sqlstore.Store
	db *sql.DB
	// fuse says the pool's transactions fuse their boundaries into their
	// statements (fusedtx.go).
	fuse bool
}

var (
	_ syncstore.Store      = (*Store)(nil)
	_ syncstore.RouteTable = (*Store)(nil)
	_ syncstore.BulkStore  = (*Store)(nil)
)

// maxUpsertPayload caps the payload bytes of one multi-row statement;
// Open lowers it to a third of the server's max_allowed_packet (escaping
// can double the bytes). Protocol-sized batches (1 MiB) fit in one
// statement on any server with the default packet size or more.
const maxUpsertPayload = 4 << 20

// connectTimeout bounds connecting at Open when ctx has no earlier
// deadline: a server that accepts connections but never answers must not
// hang start-up. Migrating afterwards is bounded by ctx and the migration
// lock's own wait only, as a large migration may take long.
const connectTimeout = 30 * time.Second

// Open connects to the database named by cfg.DSN, applies the pending
// migrations and returns the store. The database must exist; its tables
// are created by the migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	dcfg, err := driverConfig(cfg.DSN, cfg.Logger)
	if err != nil {
		return nil, err
	}
	dcfg.InterpolateParams = !cfg.prepareStatements
	// Transactions send their last statements with their COMMIT
	// (fusedtx.go), which needs both: a fused query is sent as text, its
	// arguments escaped by the driver.
	dcfg.MultiStatements = dcfg.InterpolateParams && !cfg.noFusing
	if cfg.dial != nil {
		dcfg.DialFunc = cfg.dial
	}
	// Whatever the DSN said, READ COMMITTED (see the package comment).
	delete(dcfg.Params, "transaction_isolation")
	delete(dcfg.Params, "tx_isolation")
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	isoVar, err := isolationVariable(cctx, dcfg)
	if err != nil {
		return nil, err
	}
	dcfg.Params[isoVar] = "'READ-COMMITTED'"
	connector, err := mysql.NewConnector(dcfg)
	if err != nil {
		return nil, fmt.Errorf("configuring MySQL connections to %s: %w", describe(dcfg), err)
	}
	db := sql.OpenDB(fusingConnector{connector})
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxIdleConns)
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)

	s := &Store{db: db, fuse: dcfg.MultiStatements}
	if err := s.init(ctx, cfg); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening MySQL store %s: %w", describe(dcfg), err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context, cfg Config) error {
	if err := migrate(ctx, s.db); err != nil {
		return err
	}
	var packet int
	if err := s.db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&packet); err != nil {
		return fmt.Errorf("reading max_allowed_packet: %w", err)
	}
	// Escaping can double the payload bytes in the statement text, and the
	// rest of the statement needs room too.
	maxPayload := max(min(maxUpsertPayload, packet/3), 64<<10)
	var version string
	if err := s.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return fmt.Errorf("reading the server version: %w", err)
	}
	returning := isMariaDB(version) && !cfg.noReturning
	if isMariaDB(version) {
		checkRedoLog(ctx, s.db, cfg.Logger)
	}
	var err error
	s.Store, err = sqlstore.New(ctx, sqlstore.Config{
		Dialect: dialect(maxPayload, s.fuse, returning), Read: s.db, Write: s.db, Clock: cfg.Clock,
	})
	return err
}

// isMariaDB tells MariaDB from MySQL by the version string VERSION()
// returns ("10.11.19-MariaDB-0+deb12u1"). Every MariaDB release this
// store supports (10.5 and later, for RETURNING on DELETE since 10.0.5 and
// the rest of the schema) has DELETE … RETURNING.
func isMariaDB(version string) bool {
	return strings.Contains(version, "MariaDB")
}

// isolationVariable connects once to learn the name of the session's
// isolation variable: MySQL 8 knows only transaction_isolation, MariaDB
// before 11.1 only tx_isolation. It doubles as the connectivity check, so
// a bad address or password is reported here.
func isolationVariable(ctx context.Context, dcfg *mysql.Config) (string, error) {
	connector, err := mysql.NewConnector(dcfg)
	if err != nil {
		return "", fmt.Errorf("configuring MySQL connections to %s: %w", describe(dcfg), err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("connecting to MySQL at %s: %w", describe(dcfg), err)
	}
	defer conn.Close()
	var level string
	err = conn.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&level)
	if err == nil {
		return "transaction_isolation", nil
	}
	if errorNumber(err) != errUnknownSystemVariable {
		return "", fmt.Errorf("reading the isolation level from %s: %w", describe(dcfg), err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT @@SESSION.tx_isolation").Scan(&level); err != nil {
		return "", fmt.Errorf("reading the isolation level from %s: %w", describe(dcfg), err)
	}
	return "tx_isolation", nil
}

// DB returns the store's connection pool, for packages that keep their own
// tables in the same database (the migration route table, operator tools).
// Such callers must not change the store's tables outside its write rules
// (user row lock, user_collections maintenance) and must not close the
// pool; Close does.
func (s *Store) DB() *sql.DB {
	return s.db
}

// Close closes the prepared statements and the connection pool.
func (s *Store) Close() error {
	var errs []error
	if s.Store != nil {
		errs = append(errs, s.Store.Close())
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing MySQL store: %w", err))
	}
	return errors.Join(errs...)
}
