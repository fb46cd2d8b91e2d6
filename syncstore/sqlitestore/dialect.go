package sqlitestore

import (
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/syncserver/syncserver/syncstore/sqlstore"
)

// dialect is SQLite's part of the shared SQL. Write transactions hold the
// database's write lock from BEGIN IMMEDIATE on, so the user read needs no
// locking suffix, and nothing deadlocks.
var dialect = sqlstore.Dialect{
	Name:       "SQLite",
	OnConflict: func(keys string) string { return " ON CONFLICT (" + keys + ") DO UPDATE SET " },
	Excluded:   func(col string) string { return "excluded." + col },
	Greatest:   "MAX",
	Text:       func(s string) any { return s },
	// Past MaxIDList one JSON array argument replaces one per id: SQLite
	// binds at most 32,766 parameters.
	JSONIDs:   "SELECT value FROM json_each(?)",
	MaxIDList: 256,
	// 1,280 parameters for the largest upsert shape.
	MaxRows: 128,
	// Parsing a 100-row upsert costs SQLite about as much as running it:
	// prepare every hot shape once.
	// A 100-id DELETE spent more on reading its rows before deleting
	// them (100 index probes and table reads) than on the DELETE itself.
	DeleteReturning: true,
	IsDuplicate:     isConstraint,
	IsDeadlock:      func(error) bool { return false },
}

// isConstraint reports a UNIQUE or PRIMARY KEY violation.
func isConstraint(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
