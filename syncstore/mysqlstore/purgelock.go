package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
)

// purgeLockName names the purge lock of the session's database. GET_LOCK
// names are server-wide and limited to 64 characters; a hash of the
// database name fits and keeps databases on one server independent.
const purgeLockName = "CONCAT('syncserver.purge.', SHA1(DATABASE()))"

// PurgeLock is the database's purge lock (MySQL's GET_LOCK), held by one
// session of one instance: the instance holding it runs the background
// purge of expired records for every instance on the database. The server
// releases it when that session ends, so an instance that dies or loses
// its connection hands the purge on without any lease to expire.
type PurgeLock struct {
	conn *sql.Conn
	id   int64
}

// TryPurgeLock takes the purge lock of the store's database if no other
// session holds it; it returns nil, nil when one does. The lock keeps one
// connection out of the pool until Release.
func (s *Store) TryPurgeLock(ctx context.Context) (*PurgeLock, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("taking the purge lock: %w", err)
	}
	var got sql.NullInt64
	var id int64
	err = conn.QueryRowContext(ctx, "SELECT GET_LOCK("+purgeLockName+", 0), CONNECTION_ID()").Scan(&got, &id)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("taking the purge lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, nil
	}
	return &PurgeLock{conn: conn, id: id}, nil
}

// Held reports whether the lock's session still holds it: the connection
// may have been lost (server restart, KILL, wait_timeout), and with it the
// lock, which another instance may have taken since.
func (l *PurgeLock) Held(ctx context.Context) (bool, error) {
	var held sql.NullBool
	err := l.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK("+purgeLockName+") = CONNECTION_ID()").Scan(&held)
	if err != nil {
		return false, fmt.Errorf("checking the purge lock: %w", err)
	}
	return held.Valid && held.Bool, nil
}

// ConnectionID is the MySQL connection id of the session holding the lock,
// as IS_USED_LOCK reports it.
func (l *PurgeLock) ConnectionID() int64 {
	return l.id
}

// Release gives the lock up and returns its connection to the pool. If
// the release fails the connection is discarded instead, which ends the
// session and so releases the lock all the same.
func (l *PurgeLock) Release(ctx context.Context) {
	if _, err := l.conn.ExecContext(ctx, "DO RELEASE_LOCK("+purgeLockName+")"); err != nil {
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	l.conn.Close()
}
