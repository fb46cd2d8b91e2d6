package mysqlstore

import (
	"github.com/syncserver/syncserver/syncstore/sqlstore"
)

// Server error numbers the store reacts to.
const (
	errDuplicateKey          = 1062
	errUnknownSystemVariable = 1193
	errLockDeadlock          = 1213
)

// dialect is MySQL's part of the shared SQL. maxPayload bounds the payload
// bytes of one multi-row statement (a third of max_allowed_packet:
// escaping can double the bytes); prepare switches from interpolated text
// statements to server-side prepared ones.
func dialect(maxPayload int, prepare bool) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:       "MySQL",
		OnConflict: func(string) string { return " ON DUPLICATE KEY UPDATE " },
		Excluded:   func(col string) string { return "VALUES(" + col + ")" },
		Greatest:   "GREATEST",
		// The user row lock serialises a user's writers across server
		// instances.
		ForUpdate: " FOR UPDATE",
		// Ids and payloads live in binary columns: bytes are stored as
		// given instead of being validated as utf8mb4 text.
		Text:              func(s string) any { return []byte(s) },
		MaxIDList:         128,
		MaxRows:           1024,
		MaxStatementBytes: maxPayload,
		Prepare:           prepare,
		IsDuplicate:       func(err error) bool { return errorNumber(err) == errDuplicateKey },
		IsDeadlock:        func(err error) bool { return errorNumber(err) == errLockDeadlock },
	}
}
