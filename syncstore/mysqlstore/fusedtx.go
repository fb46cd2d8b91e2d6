package mysqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// A write transaction on MySQL pays a network round trip per statement,
// and COMMIT is a statement too. Most of a write's last statements are
// updates whose results nobody reads (the DELETE of a delete by ids, the
// aggregates and the user's timestamp), so the connections of the store's
// pool let them travel with the COMMIT, as one multi-statement text query
// (the driver's multiStatements, with the arguments interpolated and
// escaped by the driver): a transaction begun with a context marked by
// fusedTx holds back each Exec whose context is marked by deferrable and
// sends it in front of the transaction's next statement, or with the
// COMMIT ("DELETE …; UPDATE …; COMMIT"). Its result is not known to the
// caller; an error it causes is reported by the statement or the Commit it
// travels with, and fails the transaction the same way. A delete by ids
// then takes three round trips instead of five, a POST four.
//
// Server-side prepared statements (the lock read, the upsert's binary
// rows) cannot carry other statements: what is pending is sent ahead of
// them in its own round trip, so nothing runs out of order. The
// transaction's START TRANSACTION stays a round trip of its own: fusing it
// too would need the lock read, the first statement, as text, and
// re-parsing its id list as text cost the server more CPU than the round
// trip saved on loopback (BenchmarkFusedTx).
//
// After a statement of a multi-statement query fails the server runs
// none of the rest; a failed fused COMMIT may thus leave the transaction
// open. database/sql releases the connection after any Commit, so Commit
// rolls back itself in that case, and a connection whose state is unknown
// reports itself invalid, so the pool closes it instead of reusing it.

// txHint is the context key of the marks.
type txHint int

const (
	hintFusedTx txHint = iota
	hintDeferrable
)

// fusedTx marks ctx for BeginTx: the transaction's deferrable statements
// travel with its next statement or its COMMIT (sqlstore.Dialect.FusedTx).
func fusedTx(ctx context.Context) context.Context {
	return context.WithValue(ctx, hintFusedTx, true)
}

// deferrable marks ctx for an Exec whose result the caller ignores
// (sqlstore.Dialect.Deferrable).
func deferrable(ctx context.Context) context.Context {
	return context.WithValue(ctx, hintDeferrable, true)
}

func marked(ctx context.Context, h txHint) bool {
	v, _ := ctx.Value(h).(bool)
	return v
}

// fusingConnector hands out fusingConns over the driver's connections.
type fusingConnector struct {
	driver.Connector
}

// Connect opens one connection.
func (c fusingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	fc, ok := dc.(fullConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("mysqlstore: the driver's connection %T lacks a context method", dc)
	}
	return &fusingConn{fullConn: fc}, nil
}

// fullConn is what go-sql-driver/mysql's connection implements of
// database/sql/driver's interfaces; fusingConn passes all of them on, so
// database/sql uses it as it uses the driver's own.
type fullConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// fusingConn is a pool connection that sends a fused transaction's
// deferred statements with its other statements or its COMMIT.
// database/sql hands a connection to one user at a time, so its fields
// need no lock.
type fusingConn struct {
	fullConn
	// fused says a fused transaction is open.
	fused bool
	// held are the deferred statements not sent yet, "; "-terminated,
	// and their arguments.
	held     strings.Builder
	heldArgs []driver.NamedValue
	// broken says a transaction's end failed in a way that may leave it
	// open on the server: the pool must not reuse the connection.
	broken bool
}

// BeginTx begins a transaction, a fused one with a fusedTx context.
func (c *fusingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.broken {
		return nil, driver.ErrBadConn
	}
	tx, err := c.fullConn.BeginTx(ctx, opts)
	if err != nil || !marked(ctx, hintFusedTx) {
		return tx, err
	}
	c.fused = true
	return fusedTxn{c: c, tx: tx}, nil
}

// pending takes the deferred statements, each "; "-terminated, with their
// arguments.
func (c *fusingConn) pending() (string, []driver.NamedValue) {
	if c.held.Len() == 0 {
		return "", nil
	}
	p, args := c.held.String(), c.heldArgs
	c.held.Reset()
	c.heldArgs = nil
	return p, args
}

// fuse prepends what is pending to query.
func (c *fusingConn) fuse(query string, args []driver.NamedValue) (string, []driver.NamedValue, bool) {
	p, pargs := c.pending()
	if p == "" {
		return query, args, false
	}
	if len(pargs) > 0 {
		args = append(pargs, args...)
	}
	return p + query, args, true
}

// flush sends what is pending on its own, before a prepared statement.
func (c *fusingConn) flush(ctx context.Context) error {
	p, args := c.pending()
	if p == "" {
		return nil
	}
	_, err := c.fullConn.ExecContext(ctx, strings.TrimSuffix(p, "; "), args)
	if errors.Is(err, driver.ErrSkip) {
		// The driver would not interpolate them; never let database/sql
		// prepare several statements as one.
		return errors.New("mysqlstore: the statements deferred in a transaction could not be sent as text")
	}
	return err
}

// ExecContext runs query after what is pending, or holds it back when
// ctx marks it deferrable inside a fused transaction.
func (c *fusingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.fused && marked(ctx, hintDeferrable) {
		c.held.WriteString(query)
		c.held.WriteString("; ")
		for _, a := range args {
			if b, ok := a.Value.([]byte); ok {
				// Sent later: the caller may reuse its buffer.
				a.Value = append([]byte(nil), b...)
			}
			c.heldArgs = append(c.heldArgs, a)
		}
		return heldResult{}, nil
	}
	q, a, fused := c.fuse(query, args)
	res, err := c.fullConn.ExecContext(ctx, q, a)
	if fused && errors.Is(err, driver.ErrSkip) {
		return nil, errors.New("mysqlstore: a statement fused with its transaction's deferred ones could not be sent as text")
	}
	return res, err
}

// QueryContext runs query after what is pending; the driver skips the
// results of the statements in front and returns the query's rows.
func (c *fusingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, a, fused := c.fuse(query, args)
	rows, err := c.fullConn.QueryContext(ctx, q, a)
	if fused && errors.Is(err, driver.ErrSkip) {
		return nil, errors.New("mysqlstore: a query fused with its transaction's statements could not be sent as text")
	}
	return rows, err
}

// PrepareContext prepares query; its executions send what is pending
// first.
func (c *fusingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.fullConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	fs, ok := st.(fullStmt)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("mysqlstore: the driver's statement %T lacks a context method", st)
	}
	return fusingStmt{fullStmt: fs, c: c}, nil
}

// Prepare is PrepareContext without a context.
func (c *fusingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// end finishes a fused transaction: a COMMIT goes with the deferred
// statements, a ROLLBACK drops them.
func (c *fusingConn) end(tx driver.Tx, commit bool) error {
	defer func() { c.fused = false }()
	if !commit {
		c.held.Reset()
		c.heldArgs = nil
		if err := tx.Rollback(); err != nil {
			c.broken = true
			return err
		}
		return nil
	}
	p, args := c.pending()
	if p == "" {
		return tx.Commit()
	}
	_, err := c.fullConn.ExecContext(context.Background(), p+"COMMIT", args)
	if err == nil {
		return nil
	}
	if errors.Is(err, driver.ErrSkip) {
		err = errors.New("mysqlstore: the statements deferred to a COMMIT could not be sent as text")
	}
	// A deferred statement may have failed before the COMMIT ran, and
	// database/sql hands the connection back to the pool after this.
	if rerr := c.rollback(); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// rollback sends ROLLBACK; if that fails the transaction may still be
// open, and the connection is given up.
func (c *fusingConn) rollback() error {
	if _, err := c.fullConn.ExecContext(context.Background(), "ROLLBACK", nil); err != nil {
		c.broken = true
		return fmt.Errorf("rolling back: %w", err)
	}
	return nil
}

// IsValid reports whether the pool may reuse the connection.
func (c *fusingConn) IsValid() bool {
	return !c.broken && c.fullConn.IsValid()
}

// ResetSession vets the connection before the pool hands it out again.
func (c *fusingConn) ResetSession(ctx context.Context) error {
	if c.broken || c.fused {
		return driver.ErrBadConn
	}
	return c.fullConn.ResetSession(ctx)
}

// fusedTxn is a fused transaction over the driver's.
type fusedTxn struct {
	c  *fusingConn
	tx driver.Tx
}

// Commit sends the deferred statements and COMMIT in one round trip.
func (t fusedTxn) Commit() error { return t.c.end(t.tx, true) }

// Rollback drops the deferred statements and rolls back what ran.
func (t fusedTxn) Rollback() error { return t.c.end(t.tx, false) }

// heldResult is the result of a deferred Exec, which has not run yet.
type heldResult struct{}

var errHeldResult = errors.New("mysqlstore: the statement is deferred to the end of its transaction; its result is not known")

func (heldResult) LastInsertId() (int64, error) { return 0, errHeldResult }
func (heldResult) RowsAffected() (int64, error) { return 0, errHeldResult }

// fullStmt is what go-sql-driver/mysql's prepared statement implements.
type fullStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
	driver.NamedValueChecker
	//lint:ignore SA1019 the driver's statement has it; database/sql falls back to it, so it is passed on.
	driver.ColumnConverter
}

// fusingStmt is a prepared statement that sends what its connection has
// pending before it runs.
type fusingStmt struct {
	fullStmt
	c *fusingConn
}

// ExecContext runs the statement after what is pending.
func (s fusingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if err := s.c.flush(ctx); err != nil {
		return nil, err
	}
	return s.fullStmt.ExecContext(ctx, args)
}

// QueryContext runs the statement after what is pending.
func (s fusingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if err := s.c.flush(ctx); err != nil {
		return nil, err
	}
	return s.fullStmt.QueryContext(ctx, args)
}
