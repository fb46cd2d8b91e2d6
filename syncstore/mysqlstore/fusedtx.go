package mysqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
)

// A write transaction on MySQL pays a network round trip per statement,
// and START TRANSACTION and COMMIT are statements too: a delete by ids
// used to take five (begin, lock and read, delete, update, commit) where
// its work needs two. The connections of the store's pool therefore fuse
// a transaction's boundaries into its statements, as one multi-statement
// text query each (the driver's multiStatements, with the arguments
// interpolated and escaped by the driver):
//
//   - a transaction begun with a context marked by lazyBegin sends
//     nothing at BeginTx; its first statement carries the
//     START TRANSACTION ("START TRANSACTION; SELECT … FOR UPDATE");
//   - an Exec whose context is marked by deferrable, inside such a
//     transaction, is held back and sent in front of the transaction's
//     next statement or its COMMIT ("DELETE …; UPDATE …; COMMIT"). Its
//     result is not known to the caller, so only statements whose result
//     nobody reads may be marked; an error it causes is reported by the
//     statement or the Commit it travels with, and fails the transaction
//     the same way.
//
// Server-side prepared statements (the upsert's binary rows) cannot carry
// other statements: what is pending is sent ahead of them in its own round
// trip, so nothing ever runs outside the transaction or out of order.
//
// After a statement of a multi-statement query fails the server runs
// none of the rest; a failed fused COMMIT may thus leave the transaction
// open. database/sql releases the connection after any Commit, so Commit
// rolls back itself in that case, and a connection whose state is unknown
// reports itself invalid, so the pool closes it instead of reusing it.

// txHint is the context key of the marks.
type txHint int

const (
	hintLazyBegin txHint = iota
	hintDeferrable
)

// lazyBegin marks ctx for BeginTx: the transaction starts with its first
// statement (sqlstore.Dialect.LazyBegin).
func lazyBegin(ctx context.Context) context.Context {
	return context.WithValue(ctx, hintLazyBegin, true)
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

// fusingConn is a pool connection that fuses a lazily begun transaction's
// boundaries and deferred statements into its other statements.
// database/sql hands a connection to one user at a time, so its fields
// need no lock.
type fusingConn struct {
	fullConn
	// lazy says a lazily begun transaction is open.
	lazy bool
	// begun says its START TRANSACTION was sent (maybe with a statement
	// that failed): ending it takes a COMMIT or ROLLBACK.
	begun bool
	// held are the deferred statements not sent yet, "; "-terminated,
	// and their arguments.
	held     strings.Builder
	heldArgs []driver.NamedValue
	// broken says a transaction's end failed in a way that may leave it
	// open on the server: the pool must not reuse the connection.
	broken bool
}

// BeginTx begins a transaction; with a lazyBegin context it sends nothing.
func (c *fusingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if !marked(ctx, hintLazyBegin) || opts.Isolation != 0 || opts.ReadOnly {
		return c.fullConn.BeginTx(ctx, opts)
	}
	if c.broken {
		return nil, driver.ErrBadConn
	}
	c.lazy, c.begun = true, false
	return fusedTx{c}, nil
}

// pending takes what must be sent ahead of the next statement: the
// START TRANSACTION of a lazy transaction not begun yet and the deferred
// statements, each "; "-terminated, with their arguments.
func (c *fusingConn) pending() (string, []driver.NamedValue) {
	if !c.lazy {
		return "", nil
	}
	var p string
	if !c.begun {
		p = "START TRANSACTION; "
		c.begun = true
	}
	if c.held.Len() > 0 {
		p += c.held.String()
		c.held.Reset()
	}
	args := c.heldArgs
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
// ctx marks it deferrable inside a lazy transaction.
func (c *fusingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if c.lazy && marked(ctx, hintDeferrable) {
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
		return nil, errors.New("mysqlstore: a statement fused with its transaction's could not be sent as text")
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

// end finishes a lazy transaction with COMMIT or ROLLBACK, sent after the
// deferred statements (a COMMIT) or instead of them (a ROLLBACK).
func (c *fusingConn) end(commit bool) error {
	defer func() { c.lazy, c.begun = false, false }()
	if !commit {
		c.held.Reset()
		c.heldArgs = nil
		if !c.begun {
			return nil
		}
		return c.rollback()
	}
	p, args := c.pending()
	if p == "START TRANSACTION; " {
		// Nothing ran in the transaction.
		return nil
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
	if c.broken || c.lazy {
		return driver.ErrBadConn
	}
	return c.fullConn.ResetSession(ctx)
}

// fusedTx is a lazily begun transaction.
type fusedTx struct{ c *fusingConn }

// Commit sends the deferred statements and COMMIT in one round trip.
func (t fusedTx) Commit() error { return t.c.end(true) }

// Rollback drops the deferred statements and rolls back what ran.
func (t fusedTx) Rollback() error { return t.c.end(false) }

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
