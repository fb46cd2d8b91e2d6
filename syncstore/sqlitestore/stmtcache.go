package sqlitestore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore/sqlstore"
)

// readConnector opens the read pool's connections, each with a cache of
// its own prepared statements (sqlstore.StmtCache), which the hottest
// reads run on without database/sql in between.
type readConnector struct {
	drv driver.Driver
	dsn string
}

// Connect opens one read connection.
func (c readConnector) Connect(context.Context) (driver.Conn, error) {
	dc, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	fc, ok := dc.(fullConn)
	if !ok {
		// A driver without the context methods: database/sql alone
		// uses it, as it would without this connector.
		return dc, nil
	}
	return &cachingConn{fullConn: fc}, nil
}

// Driver returns the SQLite driver.
func (c readConnector) Driver() driver.Driver { return c.drv }

// fullConn is what the SQLite driver's connection implements of
// database/sql/driver's interfaces; cachingConn passes all of them on, so
// database/sql uses it exactly as it uses the driver's own.
type fullConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a read connection with its own prepared statements.
// database/sql hands a connection to one user at a time, and Close comes
// after the last, so stmts needs no lock.
type cachingConn struct {
	fullConn
	stmts map[string]driver.Stmt
}

var _ sqlstore.StmtCache = (*cachingConn)(nil)

// CachedStmt returns query prepared on this connection.
func (c *cachingConn) CachedStmt(ctx context.Context, query string) (driver.Stmt, error) {
	if st, ok := c.stmts[query]; ok {
		return st, nil
	}
	st, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing %q: %w", query, err)
	}
	if c.stmts == nil {
		c.stmts = make(map[string]driver.Stmt)
	}
	c.stmts[query] = st
	return st, nil
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for _, st := range c.stmts {
		errs = append(errs, st.Close())
	}
	c.stmts = nil
	errs = append(errs, c.fullConn.Close())
	return errors.Join(errs...)
}
