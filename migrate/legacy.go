package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/syncserver/syncserver/syncstore"
)

// ErrUnknownUser: the legacy database has no such user.
var ErrUnknownUser = errors.New("unknown user")

// LegacyOptions name the legacy schema instead of detecting it. Zero
// values are detected from the tables present.
type LegacyOptions struct {
	// Variant is VariantFSyncMS or VariantMozilla; "" detects.
	Variant Variant
	// Prefix is an FSyncMS fork's table prefix: "sync" means tables
	// sync_wbo and sync_users. Empty: detected (no prefix if wbo exists).
	Prefix string
	// Shards is Mozilla PHP's WEAVE_USER_TABLE_MODULO: N tables wbo0 …
	// wbo<N-1>. 0: detected.
	Shards int
}

// LegacyDB reads and writes one legacy PHP Sync database. It is safe for
// concurrent use by several goroutines.
type LegacyDB struct {
	db     *sql.DB
	stmts  *prepared
	owned  bool
	schema Schema
	impl   legacyImpl
}

// legacyImpl is what differs between the schema families.
type legacyImpl interface {
	lookupUser(ctx context.Context, q querier, name string) (*LegacyUser, error)
	users(ctx context.Context, fn func(*LegacyUser) error) error
	records(ctx context.Context, u *LegacyUser, fn func(collection string, r *syncstore.StoredRecord) error) error
	recordsByID(ctx context.Context, u *LegacyUser, collection string, ids []string, fn func(collection string, r *syncstore.StoredRecord) error) error
	digests(ctx context.Context, u *LegacyUser, fn func(collection string, d RecordDigest) error) error
	fingerprints(ctx context.Context, u *LegacyUser, fn func(collection, id string, fp fingerprint) error) error
	replaceUser(ctx context.Context, tx *sql.Tx, u *LegacyUser, each func(emit func(collection string, r *syncstore.StoredRecord) error) error) error
}

// querier is the part of *sql.DB and *sql.Tx the readers use.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// OpenLegacy connects to the legacy MySQL/MariaDB database in dsn
// (go-sql-driver form, e.g. "sync:pw@tcp(db:3306)/weave") and finds its
// schema. Errors never include the password.
func OpenLegacy(ctx context.Context, dsn string, opt LegacyOptions) (*LegacyDB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("parsing the legacy DSN: %w (expected user:password@tcp(host:3306)/database)", err)
	}
	if cfg.DBName == "" {
		return nil, fmt.Errorf("the legacy DSN names no database (expected user:password@tcp(host:3306)/database)")
	}
	// Text columns are read as raw bytes (CAST … AS BINARY), so the
	// connection charset only matters for names in queries.
	cfg.ParseTime = false
	cfg.InterpolateParams = true
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("legacy DSN: %w", err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxLifetime(5 * time.Minute)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connecting to legacy database %q at %s: %w", cfg.DBName, cfg.Addr, err)
	}
	l, err := NewLegacyDB(ctx, db, opt)
	if err != nil {
		db.Close()
		return nil, err
	}
	l.owned = true
	return l, nil
}

// NewLegacyDB uses an open connection pool to a legacy database; Close
// leaves db open. The pool's connections should have interpolateParams
// on: a multi-row insert is then one round trip.
func NewLegacyDB(ctx context.Context, db *sql.DB, opt LegacyOptions) (*LegacyDB, error) {
	schema, err := detectSchema(ctx, db, opt)
	if err != nil {
		return nil, err
	}
	l := &LegacyDB{db: db, stmts: &prepared{db: db}, schema: schema}
	switch schema.Variant {
	case VariantFSyncMS:
		l.impl = &fsyncms{db: db, stmts: l.stmts, s: schema}
	case VariantMozilla:
		l.impl = &mozilla{db: db, stmts: l.stmts, s: schema}
	}
	return l, nil
}

// Schema is the layout found in the database.
func (l *LegacyDB) Schema() Schema { return l.schema }

// DB is the underlying pool (for tests and status queries).
func (l *LegacyDB) DB() *sql.DB { return l.db }

// Close releases the prepared statements and closes the pool if
// OpenLegacy opened it.
func (l *LegacyDB) Close() error {
	err := l.stmts.close()
	if l.owned {
		return errors.Join(err, l.db.Close())
	}
	return err
}

// LookupUser finds a user by name, case-insensitively as the PHP servers
// do. Two stored names that differ only in case are an error: they would
// become one native user.
func (l *LegacyDB) LookupUser(ctx context.Context, name string) (*LegacyUser, error) {
	u, err := l.impl.lookupUser(ctx, l.db, name)
	if err != nil {
		return nil, fmt.Errorf("loading legacy user %q: %w", name, err)
	}
	return u, nil
}

// Users calls fn for every legacy user in name order.
func (l *LegacyDB) Users(ctx context.Context, fn func(*LegacyUser) error) error {
	return l.impl.users(ctx, fn)
}

// Records streams every record of u, ordered by collection then id, with
// values exactly as stored. Each record is fresh and may be kept.
func (l *LegacyDB) Records(ctx context.Context, u *LegacyUser, fn func(collection string, r *syncstore.StoredRecord) error) error {
	if err := l.impl.records(ctx, u, fn); err != nil {
		return fmt.Errorf("reading records of legacy user %q: %w", u.Name, err)
	}
	return nil
}

// RecordsByID streams the records of u in collection whose ids are in
// ids (missing ids are skipped).
func (l *LegacyDB) RecordsByID(ctx context.Context, u *LegacyUser, collection string, ids []string, fn func(collection string, r *syncstore.StoredRecord) error) error {
	for len(ids) > 0 {
		n := min(len(ids), 500)
		if err := l.impl.recordsByID(ctx, u, collection, ids[:n], fn); err != nil {
			return fmt.Errorf("reading %d records of legacy user %q in %q: %w", n, u.Name, collection, err)
		}
		ids = ids[n:]
	}
	return nil
}

// Digests streams a digest of every record of u, computed without moving
// payloads: the database hashes them with SHA2().
func (l *LegacyDB) Digests(ctx context.Context, u *LegacyUser, fn func(collection string, d RecordDigest) error) error {
	if err := l.impl.digests(ctx, u, fn); err != nil {
		return fmt.Errorf("digesting records of legacy user %q: %w", u.Name, err)
	}
	return nil
}

// fingerprints streams the fingerprint (fingerprint.go) of every record
// of u, in no particular order: the delta copy's cheap scan.
func (l *LegacyDB) fingerprints(ctx context.Context, u *LegacyUser, fn func(collection, id string, fp fingerprint) error) error {
	if err := l.impl.fingerprints(ctx, u, fn); err != nil {
		return fmt.Errorf("scanning records of legacy user %q for changes: %w", u.Name, err)
	}
	return nil
}

// ReplaceUser writes u and exactly the records each emits in one
// transaction: the user row is inserted or updated, every other record of
// the user is deleted. For Mozilla PHP, custom collections missing from
// u.Collections get new ids (u.Collections is updated). This is the
// rollback writer.
func (l *LegacyDB) ReplaceUser(ctx context.Context, u *LegacyUser, each func(emit func(collection string, r *syncstore.StoredRecord) error) error) error {
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("writing legacy user %q: %w", u.Name, err)
	}
	defer tx.Rollback()
	if err := l.impl.replaceUser(ctx, tx, u, each); err != nil {
		return fmt.Errorf("writing legacy user %q: %w", u.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing legacy user %q: %w", u.Name, err)
	}
	return nil
}

// scanUsers collects the users a lookup query returned and refuses
// ambiguous case-insensitive matches.
func oneUser(users []*LegacyUser, name string) (*LegacyUser, error) {
	switch len(users) {
	case 0:
		return nil, ErrUnknownUser
	case 1:
		return users[0], nil
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.Name
	}
	return nil, fmt.Errorf("%d legacy users match %q case-insensitively (%q): they would become one native user; merge or rename them first", len(users), name, names)
}
