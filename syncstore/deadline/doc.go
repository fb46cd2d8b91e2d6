// Package deadline bounds every call into a syncstore.Store with a
// timeout, so that a database that stops answering (a frozen server, a
// hung disk, a lock storm) fails requests quickly with an error the
// protocol layer turns into 503 + Retry-After, instead of holding them
// until the driver's I/O timeout.
//
// The deadline is a context deadline: the store must pass its context to
// database/sql, which then gives up waiting for a pool connection when it
// expires, and go-sql-driver/mysql closes the connection a statement is
// blocked on, so the pool opens a fresh one once the server answers again.
// Nothing is abandoned in a goroutine: a call returns when the store
// returns. One wait escapes the context: database/sql's Tx.Commit takes
// none, so a COMMIT the server never answers ends only at the driver's
// I/O timeout; the server sets that to the deadline too (caddymodule,
// db_timeout). The reads sqlstore runs on a connection's own statement
// (sqlstore.StmtCache: info/collections on SQLite) honour the deadline
// while they wait for a pool connection only: the query itself takes no
// lock a writer holds under WAL, and watching the context would cost the
// driver more than the read.
//
// Wrap keeps the optional interfaces of the wrapped store that callers
// type-assert on: the route table (syncstore.RouteTable) and the migrate tool's importer
// (syncstore.BulkStore). Accessors that hand out the raw connection pool
// (DB, Path) are not passed through, since statements run on them would
// escape the deadline; Unwrap returns the store itself.
package deadline
