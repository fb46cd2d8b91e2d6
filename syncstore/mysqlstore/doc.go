// Package mysqlstore is the MySQL/MariaDB backend of syncstore.Store, on
// github.com/go-sql-driver/mysql and InnoDB. Its queries are the shared
// ones of sqlstore; this package holds the dialect (dialect.go), the
// connection settings, the schema migrations and opening.
//
// Every write request is one READ COMMITTED transaction that first locks
// the user's row (SELECT … FOR UPDATE). That lock serialises a user's
// writers across server instances, so the request timestamp can be made
// strictly greater than the previous one, and every later read in the
// transaction sees the latest committed state. READ COMMITTED (set per
// connection) avoids the gap locks REPEATABLE READ would take on range
// deletes, which could make writers of neighbouring users deadlock.
//
// Aggregates per user and collection live in user_collections and are
// maintained by the same transactions, so info/collections and the quota
// check read a handful of rows instead of scanning records.
package mysqlstore
