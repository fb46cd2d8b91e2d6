package mysqlstore

import (
	"unsafe"

	"github.com/syncserver/syncserver/syncstore/sqlstore"
)

// Server error numbers the store reacts to.
const (
	errDuplicateKey          = 1062
	errUnknownSystemVariable = 1193
	errLockDeadlock          = 1213
)

// dialect is MySQL's part of the shared SQL. maxPayload bounds the payload
// bytes of one multi-row statement (a third of max_allowed_packet).
//
// The hot write statements are server-side prepared once per connection
// and executed in the binary protocol: a 100-record upsert's payloads then
// travel as bytes instead of ~50 KB of escaped SQL text the server parses
// on every request. Their shapes are powers of two up to MaxRows and the
// protocol's full batch of 100, with the last row repeated as padding, so
// every batch is one round trip. With the per-request reads (one pool
// here serves both) a connection holds at most about 77 prepared statements
// (well under max_prepared_stmt_count, 16,382 by default, for 20
// connections of several instances). Other statements are interpolated
// text: one round trip each instead of prepare + execute + close.
//
// With fuse, write transactions send the statements whose results they
// ignore with their next statement or their COMMIT (fusedtx.go). With
// returning (MariaDB, which has DELETE … RETURNING; MySQL has not), a
// delete by ids sizes what it removes as it removes it instead of reading
// the rows locking first: a 100-id delete cost 0.6–0.76× as much on MariaDB
// (store/floor 1.77–1.86 → 1.39–1.52 in BenchmarkWrite/Delete100), for one
// round trip more (the DELETE returns rows, so it cannot wait for the
// COMMIT as the aggregates UPDATE does).
func dialect(maxPayload int, fuse, returning bool) sqlstore.Dialect {
	d := sqlstore.Dialect{
		Name:       "MySQL",
		OnConflict: func(string) string { return " ON DUPLICATE KEY UPDATE " },
		Excluded:   func(col string) string { return "VALUES(" + col + ")" },
		Greatest:   "GREATEST",
		// The user row lock serialises a user's writers across server
		// instances.
		ForUpdate: " FOR UPDATE",
		// Ids and payloads live in binary columns: bytes are stored as
		// given instead of being validated as utf8mb4 text.
		Text:              binaryArg,
		MaxIDList:         128,
		MaxRows:           512,
		MaxStatementBytes: maxPayload,
		PadRows:           true,
		SaveAndStamp: "UPDATE users u JOIN user_collections uc ON uc.user_id = u.id AND uc.collection_id = ?" +
			" SET u.last_modified = ?, uc.modified = ?, uc.record_count = ?, uc.total_bytes = ? WHERE u.id = ?",
		// Runs after the DELETE in the same transaction, under the user's
		// lock: the newest remaining row is read as this transaction left
		// the collection, and no other writer of the user can change it.
		// The aggregates say rows remain (the caller drops them at 0);
		// COALESCE only keeps the statement valid if they overcounted.
		SaveNewestAndStamp: "UPDATE users u JOIN user_collections uc ON uc.user_id = u.id AND uc.collection_id = ?" +
			" SET u.last_modified = ?, uc.modified = COALESCE((SELECT MAX(w.modified) FROM wbo w" +
			" WHERE w.user_id = uc.user_id AND w.collection_id = uc.collection_id), uc.modified)," +
			" uc.record_count = ?, uc.total_bytes = ? WHERE u.id = ?",
		DeleteReturning: returning,
		Tally:           tally(returning),
		IsDuplicate:     func(err error) bool { return errorNumber(err) == errDuplicateKey },
		IsDeadlock:      func(err error) bool { return errorNumber(err) == errLockDeadlock },
	}
	if fuse {
		d.FusedTx, d.Deferrable = fusedTx, deferrable
	}
	return d
}

// binaryArg binds s as bytes without copying it: neither the driver nor
// the store ever writes to an argument (the driver copies it into its
// packet buffer; a fused statement kept for later keeps the immutable
// string alive), and a []byte(s) copy of every id and payload was about
// a third of the bytes the native writes allocated in the migrate
// benchmark. The empty string is bound as an empty, non-nil slice: a nil
// []byte is NULL.
func binaryArg(s string) any {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// tally is the upsert's tally of what it overwrites (sqlstore.Tally), in
// user variables, where an INSERT can return them (MariaDB's INSERT …
// RETURNING; MySQL has none, and deprecates assigning user variables in
// expressions): a POST of 100 records then skips reading the 100 rows
// before it writes them, about a third of what it cost the server.
// Evaluated before the row's modified is overwritten, "modified" is the
// stored one; LEAST evaluates each argument, and each is 0.
func tally(returning bool) *sqlstore.Tally {
	if !returning {
		return nil
	}
	return &sqlstore.Tally{
		Reset: ", @syncstore_n := 0, @syncstore_b := 0",
		Count: func(modified, newModified, size string) string {
			return " + IF(" + modified + " = " + newModified + ", 0, LEAST(0, 0 * (@syncstore_n := @syncstore_n + 1), 0 * (@syncstore_b := @syncstore_b + " + size + ")))"
		},
		Returning: " RETURNING @syncstore_n, @syncstore_b",
	}
}
