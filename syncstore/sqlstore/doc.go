// Package sqlstore is the one query layer of the native SQL backends
// (sqlitestore, mysqlstore): users, collections, reads, the write
// transaction, batch planning, deletes, the expiry purge, the migrate
// tool's import and export, and the migration route table are written
// here once, in SQL both engines accept, against database/sql.
//
// A backend contributes a Dialect (the few spellings that differ: the
// upsert clause, MAX vs GREATEST, the locking suffix of the user read, how
// its driver wants text bound and how it reports duplicate keys and
// deadlocks) plus its connection handling: which pool writes go through
// (SQLite: one writer connection whose transactions are BEGIN IMMEDIATE;
// MySQL: the pool, with the user row locked by SELECT … FOR UPDATE) and
// which one reads.
//
// The layout follows the single storage trait of syncstorage-rs and
// go-syncstorage rather than sqlc's generated per-engine copies: the
// schemas of both backends have the same tables and columns, so the SQL
// can be shared as long as the dialect's pieces are spliced in.
//
// Hot write statements have fixed shapes (multi-row statements in sizes
// that are powers of two, id lists padded to one), so that a backend that
// prepares them (SQLite, where parsing a 100-row upsert costs as much as
// running it) prepares each once at Open and reuses it on every request.
package sqlstore
