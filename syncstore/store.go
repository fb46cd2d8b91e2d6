package syncstore

import (
	"cmp"
	"context"
	"math"
	"slices"
	"time"
)

// User is an account. Name is stored lower-cased (NormalizeUsername).
type User struct {
	ID           int64
	Name         string
	PasswordHash string
	Email        string
}

// WriteOptions are the preconditions of a write request.
type WriteOptions struct {
	// IfUnmodifiedSince fails the write with ErrModified when the
	// collection's timestamp is strictly greater. Nil: no check.
	IfUnmodifiedSince *Timestamp
	// QuotaBytes refuses the write with ErrOverQuota when the user already
	// stores at least this many payload bytes. 0: no quota.
	QuotaBytes int64
	// MaxRecords refuses with ErrOverQuota a write that adds records when
	// the user would then store more than this many (expired but
	// unpurged ones included); updates of stored records always pass.
	// Payload bytes alone do not bound what an account stores: records
	// with empty payloads cost no quota. 0: no limit.
	MaxRecords int64
	// MaxCollections refuses with ErrOverQuota a write into a collection
	// the user does not hold yet when they already hold this many (each
	// new name is also a row every instance keeps in memory). 0: no
	// limit.
	MaxCollections int
}

// WriteResult describes a committed PutRecords.
type WriteResult struct {
	// Modified is the request's timestamp, strictly greater than every
	// earlier write timestamp of the user.
	Modified Timestamp
	// RecordModified holds, per input record, the record's modified after
	// the write: Modified for records written with a payload or created,
	// the unchanged old value for metadata-only updates.
	RecordModified []Timestamp
	// UsedBytes is the user's stored payload bytes after the write (expired
	// but unpurged records included), for X-Weave-Quota-Remaining.
	UsedBytes int64
}

// Store is the storage engine behind the protocol layer. Implementations
// must make every write method one transaction, serialised per user, and
// give each write request one timestamp, strictly increasing per user even
// when the clock steps back. Reads hide records whose TTL has expired.
//
// Errors other than the sentinels in errors.go mean the back-end failed;
// callers answer 503.
type Store interface {
	// CreateUser inserts u (u.Name already normalized) and sets u.ID.
	CreateUser(ctx context.Context, u *User) error
	// LookupUser finds a user by name (case-insensitively).
	LookupUser(ctx context.Context, name string) (*User, error)
	// UpdateUser stores u's PasswordHash and Email.
	UpdateUser(ctx context.Context, u *User) error
	// DeleteUser removes the account and all of its records.
	DeleteUser(ctx context.Context, userID int64) error
	// ListUsers returns up to limit users with names greater than after,
	// in name order (for operator tools; limit <= 0 means all).
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)

	// CollectionTimestamps is info/collections: the newest modified of each
	// collection that holds rows (expired rows included). It must not scan
	// records.
	CollectionTimestamps(ctx context.Context, userID int64) (map[string]Timestamp, error)
	// CollectionCounts counts unexpired records per collection.
	CollectionCounts(ctx context.Context, userID int64) (map[string]int64, error)
	// CollectionUsage sums unexpired payload bytes per collection.
	CollectionUsage(ctx context.Context, userID int64) (map[string]int64, error)

	// GetRecords lists the unexpired records of a collection matching q.
	// An unknown collection yields no records and no error.
	GetRecords(ctx context.Context, userID int64, collection string, q *Query) ([]WBO, error)
	// GetRecord returns one unexpired record or ErrNotFound.
	GetRecord(ctx context.Context, userID int64, collection, id string) (*WBO, error)

	// PutRecords upserts validated records in one transaction. Per record,
	// fields that are nil keep their stored values (a merge); TTL is always
	// rewritten (nil: never expires). A record with a payload, or a new one,
	// gets modified = the request timestamp; a metadata-only update keeps
	// its modified. Later duplicates of an id in recs win field by field.
	PutRecords(ctx context.Context, userID int64, collection string, recs []WBO, opt WriteOptions) (*WriteResult, error)
	// DeleteRecords deletes the records of a collection matching q (all of
	// them for an empty query; expired ones too) and returns the request
	// timestamp. Deleting nothing is not an error.
	DeleteRecords(ctx context.Context, userID int64, collection string, q *Query, opt WriteOptions) (Timestamp, error)
	// DeleteStorage deletes every record of the user and returns the
	// request timestamp.
	DeleteStorage(ctx context.Context, userID int64) (Timestamp, error)

	// UserTimestamp is the newest timestamp a write of the user was
	// given (users.last_modified; 0 before the first write), read from
	// the database so that it holds across server instances. Every
	// answer to the user carries at least this X-Weave-Timestamp, so a
	// client's clock never goes back (docs/protocol.md §3.2). A missing user
	// gives ErrNotFound.
	UserTimestamp(ctx context.Context, userID int64) (Timestamp, error)

	// PurgeExpired deletes up to limit records whose TTL expired before
	// now (all when limit <= 0) and returns how many went.
	PurgeExpired(ctx context.Context, now time.Time, limit int) (int64, error)

	// Close releases the store's connections.
	Close() error
}

// NoExpiry is the absolute expiry (Unix seconds) stored for records
// without a TTL. Reads keep rows whose expiry is greater than now.
const NoExpiry int64 = math.MaxInt64

// Expiry turns a record's relative TTL into the absolute expiry stored.
func Expiry(ttl *int64, now time.Time) int64 {
	if ttl == nil {
		return NoExpiry
	}
	return now.Unix() + *ttl
}

// LastStamper is an optional Store method: info/collections and the user's
// last write timestamp in one read. info/collections, the most frequent
// read of a sync, needs both (its X-Weave-Timestamp must not go below the
// user's last write), so a store that can read them together saves a
// round trip per request. Both SQL backends implement it.
// The collections come as a slice sorted by name, appended to dst, in the
// order info/collections lists them: building a map only for the
// handler to sort its keys again cost a tenth of the request's CPU
// outside the database.
type LastStamper interface {
	CollectionTimestampsAndLast(ctx context.Context, userID int64, dst []CollectionStamp) ([]CollectionStamp, Timestamp, error)
}

// CollectionStamp is a collection's last-modified timestamp.
type CollectionStamp struct {
	Name     string
	Modified Timestamp
}

// AppendCollectionStamps appends m's collections to dst and sorts what
// it appended by name, as LastStamper returns them.
func AppendCollectionStamps(dst []CollectionStamp, m map[string]Timestamp) []CollectionStamp {
	start := len(dst)
	for name, ts := range m {
		dst = append(dst, CollectionStamp{name, ts})
	}
	SortCollectionStamps(dst[start:])
	return dst
}

// SortCollectionStamps sorts stamps by name.
func SortCollectionStamps(stamps []CollectionStamp) {
	slices.SortFunc(stamps, func(a, b CollectionStamp) int { return cmp.Compare(a.Name, b.Name) })
}

// RecordStamper is an optional Store method: GET of one record and the
// user's last write timestamp in one read, for the same reason as
// LastStamper. last is the user's timestamp whenever the user exists,
// also when the record does not (err wraps ErrNotFound then); a missing
// user gives ErrNotFound and 0.
type RecordStamper interface {
	GetRecordAndLast(ctx context.Context, userID int64, collection, id string) (w *WBO, last Timestamp, err error)
}

// ListStamper is an optional Store method: GET of a collection and the
// user's last write timestamp, in one read where the store can. A missing
// user gives no records and 0, as GetRecords gives no records.
type ListStamper interface {
	GetRecordsAndLast(ctx context.Context, userID int64, collection string, q *Query) ([]WBO, Timestamp, error)
}
