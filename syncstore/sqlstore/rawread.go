package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
)

// StmtCache is implemented by a read pool's driver connections that keep
// prepared statements of their own (sqlitestore's). The most frequent
// read of a sync, info/collections, then runs on the connection's own
// statement through sql.Conn.Raw instead of through database/sql's Stmt
// and Rows: those cost more CPU than SQLite's own work on that read (a
// goroutine and a cancelable context per query to watch the caller's
// context, a search of the statement's per-connection list under a
// lock, reflection in Scan), so that info/collections on SQLite cost
// 22 µs of CPU through database/sql against 10 µs this way.
type StmtCache interface {
	// CachedStmt returns query prepared on this connection, preparing
	// it on first use. It stays open until the connection closes.
	CachedStmt(ctx context.Context, query string) (driver.Stmt, error)
}

// probeRawReads reports whether the read pool's connections implement
// StmtCache; all connections of a pool come from the same connector.
func probeRawReads(ctx context.Context, db *sql.DB) (bool, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var ok bool
	err = conn.Raw(func(dc any) error {
		_, ok = dc.(StmtCache)
		return nil
	})
	return ok, err
}

// rawRead runs query on a read connection's own prepared statement (see
// StmtCache), calling row with the values of each row, which are only
// valid during the call. ctx bounds the wait for a connection of the
// pool; the query itself runs without it: a read never waits for a lock
// under WAL (and busy_timeout bounds the rare wait for a WAL recovery),
// and a context that can end would cost the driver a watcher on every
// query. A connection the driver reports broken is given up and the read
// reported as errBadRawConn, which the caller answers by reading through
// database/sql, which retries on another. The row's values are read into
// b.dest, args are usually b.args.
func (s *Store) rawRead(ctx context.Context, query string, args []driver.NamedValue, b *rawBuf, row func([]driver.Value) error) error {
	conn, err := s.read.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		st, err := dc.(StmtCache).CachedStmt(ctx, query)
		if err != nil {
			return err
		}
		q, ok := st.(driver.StmtQueryContext)
		if !ok {
			return fmt.Errorf("driver statement %T cannot query with a context", st)
		}
		rows, err := q.QueryContext(context.Background(), args)
		if err != nil {
			return err
		}
		var dest []driver.Value
		if n := len(rows.Columns()); n <= len(b.dest) {
			dest = b.dest[:n]
		} else {
			dest = make([]driver.Value, n)
		}
		for {
			err := rows.Next(dest)
			if errors.Is(err, io.EOF) {
				break
			}
			if err == nil {
				err = row(dest)
			}
			if err != nil {
				rows.Close()
				return err
			}
		}
		return rows.Close()
	})
	if errors.Is(err, driver.ErrBadConn) {
		return errBadRawConn
	}
	return err
}

// rawBuf holds a raw read's arguments and the values of its current row.
// Both reach the driver through interface calls, so that arrays local to
// the read would be moved to the heap on every call; these are recycled
// (Store.rawBufs).
type rawBuf struct {
	args [2]driver.NamedValue
	dest [4]driver.Value
}

// getRawBuf returns a recycled rawBuf; putRawBuf takes it back.
func (s *Store) getRawBuf() *rawBuf {
	if b, ok := s.rawBufs.Get().(*rawBuf); ok {
		return b
	}
	return new(rawBuf)
}

func (s *Store) putRawBuf(b *rawBuf) {
	// The pool holds no user's values.
	*b = rawBuf{}
	s.rawBufs.Put(b)
}

// errBadRawConn reports a raw read that found its connection broken.
var errBadRawConn = errors.New("read connection broken")

// rawInt64 reads an integer column of a raw read; ok is false for NULL.
func rawInt64(v driver.Value) (n int64, ok bool, err error) {
	switch v := v.(type) {
	case int64:
		return v, true, nil
	case nil:
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("integer column holds a %T", v)
}
