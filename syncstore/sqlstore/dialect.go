package sqlstore

import "context"

// Dialect is what differs between the engines in the SQL of this package.
type Dialect struct {
	// Name names the engine in error messages ("SQLite", "MySQL").
	Name string
	// OnConflict starts the update part of an upsert whose conflict is on
	// the key columns keys: " ON CONFLICT (keys) DO UPDATE SET " or
	// " ON DUPLICATE KEY UPDATE ". Bare column names in the assignments
	// that follow refer to the stored row.
	OnConflict func(keys string) string
	// Excluded names the value an upsert tried to insert into col:
	// "excluded.col" or "VALUES(col)".
	Excluded func(col string) string
	// Greatest is the scalar maximum of two values: "MAX" or "GREATEST".
	Greatest string
	// ForUpdate ends the read that locks a user's row for a write
	// transaction: " FOR UPDATE" where rows are locked, "" where the
	// transaction itself holds the database's write lock.
	ForUpdate string
	// Text turns a stored string (record id, payload, parent id) into the
	// argument the driver binds: the string itself for TEXT columns, its
	// bytes for binary ones (so the server does not re-validate it).
	Text func(string) any
	// JSONIDs, when not empty, is a subquery yielding the values of a JSON
	// array bound as one argument ("SELECT value FROM json_each(?)"); id
	// lists longer than MaxIDList use it instead of one argument per id.
	JSONIDs string
	// MaxIDList is the longest id list bound as one argument per id.
	MaxIDList int
	// MaxRows bounds the rows of one multi-row statement; it is a power
	// of two.
	MaxRows int
	// MaxStatementBytes bounds the payload bytes of one multi-row
	// statement (0: no bound).
	MaxStatementBytes int
	// PadRows fills a multi-row statement up to its prepared shape by
	// repeating the last row (an upsert of the same values twice), instead
	// of cutting the rows into several statements: for engines where each
	// statement is a network round trip.
	PadRows bool
	// SaveAndStamp, when not empty, updates an existing user_collections
	// row and the user's last write timestamp in one statement, with the
	// arguments (collection_id, last_modified, modified, record_count,
	// total_bytes, user_id): one round trip less per write where
	// statements are round trips.
	SaveAndStamp string
	// SaveNewestAndStamp, when not empty, is SaveAndStamp for a delete
	// that removed the collection's newest rows: it sets the collection's
	// timestamp to its newest remaining row itself, with the arguments
	// (collection_id, last_modified, record_count, total_bytes, user_id),
	// instead of a look-up first. One round trip less for almost every
	// delete of recent records (the bench mix's churn: 99% of them).
	SaveNewestAndStamp string
	// DeleteReturning: a DELETE can return what it removed (DELETE …
	// RETURNING), so a delete by ids sizes the rows as it removes them
	// instead of reading them first. Where the rows must be read locking
	// before they go (MySQL has no RETURNING; the read that locks them is
	// the round trip the delete needs anyway), it is false.
	DeleteReturning bool
	// Tally, when set, lets an upsert count the rows it overwrote and
	// their old payload bytes itself, so that a POST need not read the
	// stored rows among its ids first (see Tally).
	Tally *Tally
	// FusedTx, when set, marks the context of a write transaction's
	// BeginTx: the transaction may then send the statements marked
	// Deferrable with its next statement or its COMMIT, one round trip
	// less each where statements are round trips.
	FusedTx func(context.Context) context.Context
	// Deferrable, when set, marks the context of an Exec inside a FusedTx
	// transaction whose result the caller ignores: the driver may send it
	// with the transaction's next statement or its COMMIT. Its error, if
	// any, then comes from that statement or from Commit.
	Deferrable func(context.Context) context.Context
	// IsDuplicate reports a unique-key violation.
	IsDuplicate func(error) bool
	// IsDeadlock reports a transaction the engine aborted to break a
	// deadlock; it is run again.
	IsDeadlock func(error) bool
}

// Tally is the SQL by which an upsert tallies, in two session variables,
// the stored rows it overwrites (n) and their payload bytes (b): the
// user's lock read zeroes them, each overwrite of a row stored before
// the transaction adds to them, and the upsert returns them. A row this
// transaction already wrote carries its timestamp, which is greater than
// every stored row's, and is not counted again (a padded statement
// repeats its last row).
type Tally struct {
	// Reset ends the select list of the lock read: it zeroes the tallies
	// and adds two columns.
	Reset string
	// Count is added to the upsert's first assignment, "modified = new":
	// given the stored modified, the new one and the stored payload_size,
	// it counts the row and evaluates to 0.
	Count func(modified, newModified, size string) string
	// Returning ends the upsert: it returns the running tallies (n, b),
	// one row per row of the statement.
	Returning string
}
