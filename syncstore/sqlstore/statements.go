package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"math/bits"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// statements holds the write statements prepared once on the write pool.
// They are prepared at New, never lazily: a statement first prepared
// inside a transaction would need a second connection, and SQLite's
// writer pool has exactly one. A transaction binds them to its connection
// with Tx.StmtContext, which reuses what was prepared there.
type statements struct {
	m map[string]*sql.Stmt
}

func (p *statements) prepare(ctx context.Context, db *sql.DB, queries []string) error {
	p.m = make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		if _, ok := p.m[q]; ok {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return err
		}
		p.m[q] = st
	}
	return nil
}

func (p *statements) close() error {
	var errs []error
	for _, st := range p.m {
		errs = append(errs, st.Close())
	}
	p.m = nil
	return errors.Join(errs...)
}

// execDeferrable is exec for a statement whose result the caller
// ignores: where the dialect allows (Dialect.Deferrable) it is sent as
// text with the transaction's next statement or its COMMIT, and its
// error, if any, comes from those.
func (s *Store) execDeferrable(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	if s.d.Deferrable != nil {
		_, err := tx.ExecContext(s.d.Deferrable(ctx), query, args...)
		return err
	}
	_, err := s.exec(ctx, tx, query, args...)
	return err
}

// exec runs query in tx, through its prepared statement when there is one.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st, ok := s.stmts.m[query]; ok {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// query runs query in tx, through its prepared statement when there is
// one.
func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st, ok := s.stmts.m[query]; ok {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...)
}

// queryRow is query for one row.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st, ok := s.stmts.m[query]; ok {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// readQuery runs query on the read pool, through its prepared statement
// when there is one.
func (s *Store) readQuery(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st, ok := s.reads.m[query]; ok {
		return st.QueryContext(ctx, args...)
	}
	return s.read.QueryContext(ctx, query, args...)
}

// readRow is readQuery for one row.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, ok := s.reads.m[query]; ok {
		return st.QueryRowContext(ctx, args...)
	}
	return s.read.QueryRowContext(ctx, query, args...)
}

// hotReads lists the reads of fixed text that requests make: parsing
// them anew cost a quarter of the CPU of an info/collections request on
// SQLite. The export's two reads join them: the migrate tool runs them for
// every user it verifies.
func (s *Store) hotReads() []string {
	return []string{userTimestampSQL, collectionTimestampsSQL, collectionTimestampsAndLastSQL, collectionCountsSQL, collectionUsageSQL,
		collectionIDSQL, collectionNameSQL, recordSQL, recordAndLastSQL, userByNameSQL, routeSQL, exportCollectionsSQL, exportRecordsSQL}
}

// fullBatch is the extra prepared shape besides the powers of two: the
// protocol's records per POST, the size of every full batch a client
// uploads. Padding those 100 rows up to 128 cost the upsert 28 more
// duplicate-key updates (8 % of a 100-record POST on MariaDB), and a
// 100-id list 28 more placeholders.
const fullBatch = syncstore.DefaultMaxRecords

// chunkSizes cuts n rows into statements: as many maxRows as fit, then
// the rest. It returns each statement's rows and shape (its number of
// value rows): the prepared shapes are powers of two and
// fullBatch, so there are about log2(maxRows)+2 of them; the rest is
// either cut into those shapes, largest first, or, with PadRows, sent as
// one statement padded up to the next one.
func (s *Store) chunkSizes(n int) (rows, shapes []int) {
	return s.cutRows(n, s.d.PadRows)
}

// exactChunkSizes is chunkSizes without padding, for statements where a
// repeated row is not harmless: a plain INSERT would fail on it.
func (s *Store) exactChunkSizes(n int) (rows, shapes []int) {
	return s.cutRows(n, false)
}

func (s *Store) cutRows(n int, padRows bool) (rows, shapes []int) {
	for n >= s.d.MaxRows {
		rows, shapes = append(rows, s.d.MaxRows), append(shapes, s.d.MaxRows)
		n -= s.d.MaxRows
	}
	switch {
	case n == 0:
	case padRows:
		rows, shapes = append(rows, n), append(shapes, s.padShape(n))
	default:
		if n >= fullBatch && fullBatch <= s.d.MaxRows && n < 2*fullBatch {
			rows, shapes = append(rows, fullBatch), append(shapes, fullBatch)
			n -= fullBatch
		}
		for n > 0 {
			k := 1 << (bits.Len(uint(n)) - 1)
			rows, shapes = append(rows, k), append(shapes, k)
			n -= k
		}
	}
	return rows, shapes
}

// padShape is the smallest prepared shape of at least n rows (n <=
// MaxRows): the next power of two, or fullBatch when that is between.
func (s *Store) padShape(n int) int {
	p := 1 << bits.Len(uint(n-1))
	if n <= fullBatch && fullBatch < p && fullBatch <= s.d.MaxRows {
		return fullBatch
	}
	return p
}

// listShape is the number of placeholders an id list of n values is
// bound with: n rounded up to a prepared shape (the last id repeats), so
// that lists of any length share a few prepared statements.
func (s *Store) listShape(n int) int {
	if n <= 1 {
		return n
	}
	p := 1 << bits.Len(uint(n-1))
	if n <= fullBatch && fullBatch < p && fullBatch <= s.d.MaxIDList {
		return fullBatch
	}
	return p
}

// placeholders returns "(?, ?, …)" rows of width columns, rows times,
// comma separated.
func placeholders(rows, width int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	var b strings.Builder
	b.Grow(rows * (len(one) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}

// hotStatements lists what the write path runs on every request, in
// every shape it can take.
func (s *Store) hotStatements() []string {
	qs := []string{lockUserSQL + s.d.ForUpdate, setLastModifiedSQL, s.saveCollectionSQL(), deleteAggregatesSQL,
		newestSQL, liveBytesSQL}
	if s.d.SaveAndStamp != "" {
		qs = append(qs, s.d.SaveAndStamp)
	}
	if s.d.Tally != nil {
		qs = append(qs, s.lockResetting)
	}
	for _, k := range preparedShapes(s.d.MaxRows) {
		qs = append(qs, s.upsertSQL(k), s.replaceSQL(k), insertSQL(k))
		if s.d.Tally != nil {
			qs = append(qs, s.upsertTallySQL(k))
		}
	}
	for _, k := range preparedShapes(s.d.MaxIDList) {
		for _, head := range []string{existingSQL, sizeSQL, deleteSQL} {
			qs = append(qs, head+whereCollection+inList(k))
		}
		qs = append(qs, s.lockRowsHead()+whereCollection+inList(k)+s.lockRowsTail())
		if s.d.DeleteReturning {
			qs = append(qs, deleteSQL+whereCollection+inList(k)+returningSQL)
		}
	}
	return qs
}

// preparedShapes lists the prepared statement shapes up to max: the powers of two
// and fullBatch.
func preparedShapes(max int) []int {
	var ks []int
	for k := 1; k <= max; k *= 2 {
		ks = append(ks, k)
	}
	if fullBatch <= max {
		ks = append(ks, fullBatch)
	}
	return ks
}
