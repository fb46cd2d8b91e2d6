package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/sqlschema"
)

// Store implements syncstore.Store, syncstore.RouteTable and
// syncstore.BulkStore on a database holding the native schema. Backends
// embed it.
type Store struct {
	d     Dialect
	read  *sql.DB
	write *sql.DB
	clock func() time.Time
	colls sqlschema.CollectionNames
	names collectionNames
	stmts statements
	// reads are the per-request reads, prepared on the read pool
	// (database/sql prepares them on each connection at its first use).
	reads statements
	// rawReads says the read pool's connections keep statements of
	// their own (StmtCache), on which the hottest read runs directly.
	rawReads bool
	// rawBufs recycles the raw reads' arguments and row values.
	rawBufs sync.Pool
	// upserts holds upsertSQL's text per prepared shape, built once: it
	// is the statements' key, and a 100-row text is 3.5 KB to rebuild on
	// every POST.
	upserts map[int]string
	// tallies holds upsertTallySQL's text per prepared shape, likewise;
	// lockResetting is lockUserResettingSQL's text (Dialect.Tally).
	tallies       map[int]string
	lockResetting string
	// gate orders the write transactions where they run one at a time
	// (nil: the engine's row locks order them).
	gate *writeGate
}

var (
	_ syncstore.Store      = (*Store)(nil)
	_ syncstore.RouteTable = (*Store)(nil)
	_ syncstore.BulkStore  = (*Store)(nil)
)

// Config is what New needs from a backend.
type Config struct {
	Dialect Dialect
	// Read serves reads outside write transactions; Write runs every
	// write. They may be the same pool.
	Read, Write *sql.DB
	// Clock is the time source of write timestamps and expiry (nil:
	// time.Now).
	Clock func() time.Time
	// SerialWrites says Write runs one transaction at a time (SQLite's
	// one writer connection): write transactions then queue in a
	// writeGate, short ones first, instead of in database/sql's random
	// hand-over of the connection.
	SerialWrites bool
}

// New returns the query layer over an open, migrated database. It loads
// the collection names and prepares the hot write
// statements and the reads every request makes.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	s := &Store{d: cfg.Dialect, read: cfg.Read, write: cfg.Write, clock: cfg.Clock, upserts: map[int]string{}, tallies: map[int]string{}}
	if cfg.SerialWrites {
		s.gate = &writeGate{}
	}
	if s.d.Tally != nil {
		s.lockResetting = s.lockUserResettingSQL()
	}
	for _, k := range preparedShapes(s.d.MaxRows) {
		s.upserts[k] = s.buildUpsertSQL(k)
		if s.d.Tally != nil {
			s.tallies[k] = s.buildUpsertTallySQL(k)
		}
	}
	if err := s.colls.Load(ctx, s.read); err != nil {
		return nil, err
	}
	if err := s.stmts.prepare(ctx, s.write, s.hotStatements()); err != nil {
		s.stmts.close()
		return nil, fmt.Errorf("preparing %s statements: %w", s.d.Name, err)
	}
	if err := s.reads.prepare(ctx, s.read, s.hotReads()); err != nil {
		s.stmts.close()
		s.reads.close()
		return nil, fmt.Errorf("preparing %s read statements: %w", s.d.Name, err)
	}
	raw, err := probeRawReads(ctx, s.read)
	if err != nil {
		s.stmts.close()
		s.reads.close()
		return nil, fmt.Errorf("probing the %s read connections: %w", s.d.Name, err)
	}
	s.rawReads = raw
	return s, nil
}

// Close releases the prepared statements; the backend closes its pools.
func (s *Store) Close() error {
	return errors.Join(s.stmts.close(), s.reads.close())
}

// errUserMissing wraps ErrNotFound for a user id that does not exist.
func errUserMissing(userID int64) error {
	return fmt.Errorf("user %d: %w", userID, syncstore.ErrNotFound)
}

// isNoRows reports sql.ErrNoRows.
func isNoRows(err error) bool {
	return errors.Is(err, sql.ErrNoRows)
}
