// Package sqlitestore is the embedded default syncstore.Store: one SQLite
// file (modernc.org/sqlite, pure Go) in WAL mode, with a single writer
// connection that serialises every write request, a small pool of readers
// that run beside it and a connection that runs the WAL checkpoints in
// the background. Its queries are the shared ones of sqlstore; this
// package holds the dialect (dialect.go), the connection settings, the
// schema migrations and opening.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/syncserver/syncserver/syncstore"

	"github.com/syncserver/syncserver/syncstore/sqlstore"
)

// Store implements syncstore.Store, syncstore.RouteTable and
// syncstore.BulkStore on SQLite: the shared query layer (sqlstore) over a
// single writer connection and a pool of readers.
type Store struct {
	*sqlstore.Store
	writer      *sql.DB
	reader      *sql.DB
	checkpoints *checkpointer
	path        string
}

var (
	_ syncstore.Store      = (*Store)(nil)
	_ syncstore.RouteTable = (*Store)(nil)
	_ syncstore.BulkStore  = (*Store)(nil)
)

// Open opens (creating if needed) Dir/syncserver.db and applies pending
// migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating SQLite data directory %q: %w", cfg.Dir, err)
	}
	// SQLite only reports a read-only directory once it first needs the
	// WAL or a new file, with a bare "unable to open database file"; probe
	// so the operator learns which directory to fix.
	probe, err := os.CreateTemp(cfg.Dir, ".write-test-*")
	if err != nil {
		return nil, fmt.Errorf("SQLite data directory %q is not writable: %w", cfg.Dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())

	// The driver takes a file: URI, in which a relative path would read as
	// a host name ("file://data/…"); the default Dir is relative.
	path, err := filepath.Abs(filepath.Join(cfg.Dir, DBFile))
	if err != nil {
		return nil, fmt.Errorf("resolving SQLite data directory %q: %w", cfg.Dir, err)
	}
	writer, err := sql.Open("sqlite", dsn(path, cfg.BusyTimeout, roleWriter))
	if err != nil {
		return nil, fmt.Errorf("opening SQLite database %q: %w", path, err)
	}
	// One writer connection: database/sql queues write transactions in
	// Go instead of letting them collide on SQLite's lock, and BEGIN
	// IMMEDIATE (_txlock) takes the write lock up front so a transaction
	// never fails half-way upgrading from a read lock.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	s := &Store{writer: writer, path: path}
	// The writer connection is opened first and alone, so it is the one
	// that switches the file to WAL before any reader exists.
	if err := migrate(ctx, writer, migrationFiles, cfg.Clock); err != nil {
		writer.Close()
		return nil, fmt.Errorf("migrating SQLite database %q: %w", path, err)
	}

	// The readers keep prepared statements of their own (stmtcache.go).
	reader := sql.OpenDB(readConnector{drv: writer.Driver(), dsn: dsn(path, cfg.BusyTimeout, roleReader)})
	reader.SetMaxOpenConns(readConns)
	reader.SetMaxIdleConns(readConns)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	s.reader = reader

	s.Store, err = sqlstore.New(ctx, sqlstore.Config{Dialect: dialect, Read: reader, Write: writer, Clock: cfg.Clock, SerialWrites: true})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("opening SQLite database %q: %w", path, err)
	}
	if s.checkpoints, err = startCheckpointer(ctx, path, cfg.BusyTimeout, s.Store.HoldWrites); err != nil {
		s.Close()
		return nil, fmt.Errorf("opening SQLite database %q: %w", path, err)
	}
	return s, nil
}

// Connection roles: dsn sets each one's pragmas.
const (
	roleWriter = iota
	roleReader
	roleCheckpointer
)

// Page cache and memory map sizes. SQLite's default cache is 2 MiB per
// connection, which a multi-GB file's b-tree interior pages outgrow: every
// insert then re-reads them with pread. The writer descends the b-trees on
// every upsert, so it gets the larger cache; the readers map the file, so
// their page reads are memory reads instead of system calls.
const (
	writerCacheKiB = 64 << 10
	readerCacheKiB = 16 << 10
	mmapBytes      = 1 << 30
)

// dsn builds the connection string of one role. WAL lets readers proceed
// during a write. synchronous=NORMAL is enough in WAL mode: a process
// crash loses nothing and nothing can corrupt the file; only an OS crash
// or power loss may roll back the commits since the WAL was last synced,
// which the checkpointer does at least every checkpointEvery (see
// checkpoint.go). FULL would add an fsync to every write request, which
// would dominate the latency of small uploads.
func dsn(path string, busy time.Duration, role int) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(busy.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Add("_pragma", fmt.Sprintf("mmap_size(%d)", mmapBytes))
	switch role {
	case roleWriter:
		q.Set("_txlock", "immediate")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
		// Checkpoints run in the background (checkpoint.go); the writer
		// only checkpoints itself should the WAL grow this long anyway.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", backstopCheckpointPages))
		// A multi-row upsert inside a transaction keeps a statement
		// journal (to undo just that statement on an error); a 100-row
		// batch spills it past SQLite's 64 KiB in-memory threshold into a
		// temp file created, written and closed by every request. In
		// memory it costs about as many bytes as the batch dirties pages.
		q.Add("_pragma", "temp_store(MEMORY)")
		// A WAL that grew during a burst is cut back after a checkpoint.
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	case roleCheckpointer:
		q.Set("_busy_timeout", fmt.Sprint(min(busy, restartWait).Milliseconds()))
	case roleReader:
		// Readers must never write; this turns a bug into an error.
		q.Set("_query_only", "1")
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", readerCacheKiB))
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// DB returns the writer connection (a pool of exactly one connection). It
// is meant for packages that keep their own tables in the same file (route
// table, migrate tool): statements run through it are serialised with the
// store's writes, and transactions begun on it are BEGIN IMMEDIATE. Do not
// hold it for long, and do not close it; Close does.
func (s *Store) DB() *sql.DB {
	return s.writer
}

// Path is the database file's location.
func (s *Store) Path() string {
	return s.path
}

// Close closes both connection pools.
func (s *Store) Close() error {
	var errs []error
	if s.checkpoints != nil {
		if err := s.checkpoints.close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the SQLite checkpointer: %w", err))
		}
	}
	if s.Store != nil {
		if err := s.Store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing SQLite statements: %w", err))
		}
	}
	if s.reader != nil {
		if err := s.reader.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing SQLite readers: %w", err))
		}
	}
	if err := s.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("closing SQLite writer: %w", err))
	}
	return errors.Join(errs...)
}
