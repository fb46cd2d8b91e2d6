package syncstore

import (
	"context"
	"errors"
)

// ErrRecordExists: InsertRecords met a record the store already holds.
var ErrRecordExists = errors.New("record already stored")

// BulkStore is what the migrate tool needs from a native store besides
// the route table: import and export. Both SQL backends implement it next
// to Store; storetest.RunBulk is its conformance suite. Unlike the
// protocol writes, these methods keep every value exactly as given: no
// timestamp is assigned, nothing is merged, expiry is written as is.
//
// The memcached layer passes it through and invalidates what it cached.
type BulkStore interface {
	// LookupUser finds a user by name, case-insensitively; an unknown
	// user is ErrNotFound (as Store.LookupUser).
	LookupUser(ctx context.Context, name string) (*User, error)

	// ImportUser creates the user u.Name (already normalized) or, when
	// it exists, overwrites its PasswordHash and Email; either way it
	// raises users.last_modified to at least lastModified, so that the
	// next protocol write gets a larger timestamp than any imported
	// record. Records are not touched. It returns the stored user with ID.
	ImportUser(ctx context.Context, u User, lastModified Timestamp) (*User, error)

	// ReplaceRecords writes recs into one collection of the user in one
	// transaction, creating the collection (custom ids >= 101) if needed.
	// Each record is inserted or entirely overwritten: id, modified,
	// sortindex, payload, parentid, predecessorid and expiry as given, NULLs
	// included; payload_size = len(payload). The user_collections row is
	// brought up to date (max modified, count, bytes) and users.last_modified
	// is raised to at least the newest Modified. recs holds at most a few
	// thousand records or a few MiB; ids are unique within one call. It
	// must be a handful of statements, not one per record.
	ReplaceRecords(ctx context.Context, userID int64, collection string, recs []StoredRecord) error

	// InsertRecords is ReplaceRecords for records the collection does not
	// hold yet (a fresh copy): the store need not read the rows they would
	// replace. If it holds any of them, it writes nothing and fails with
	// an error wrapping ErrRecordExists; the caller then uses
	// ReplaceRecords.
	InsertRecords(ctx context.Context, userID int64, collection string, recs []StoredRecord) error

	// DeleteRecordIDs deletes the records with these ids from one
	// collection of the user (expired or not; missing ids are ignored) and
	// updates the collection's user_collections row, deleting it when the
	// collection becomes empty. users.last_modified is not lowered.
	DeleteRecordIDs(ctx context.Context, userID int64, collection string, ids []string) error

	// ExportRecords streams every record of the user, expired ones
	// included, ordered by collection name then id. Each record is fresh
	// and may be kept. fn must not write to this store (the SQLite backend
	// has a single writer connection).
	ExportRecords(ctx context.Context, userID int64, fn func(collection string, r *StoredRecord) error) error

	// CollectionTimestamps is Store's info/collections read, used to
	// check that the collection timestamps clients will see match the
	// legacy ones.
	CollectionTimestamps(ctx context.Context, userID int64) (map[string]Timestamp, error)
}

// Wrapper is a Store layered over another one (the memcached layer); its
// Unwrap returns the store underneath.
type Wrapper interface {
	Unwrap() Store
}
