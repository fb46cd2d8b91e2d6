package migrate

import (
	"github.com/syncserver/syncserver/syncstore"
)

// Record is one stored WBO with every value exactly as a store holds it:
// unlike syncstore.WBO it carries the stored modified and the absolute
// expiry, because moving data between stores must not assign new ones.
type Record struct {
	ID            string
	Modified      syncstore.Timestamp
	SortIndex     *int64
	ParentID      *string
	PredecessorID *string
	// Payload is nil when the stored payload is NULL.
	Payload *string
	// Expiry is the absolute expiry in Unix seconds; syncstore.NoExpiry for
	// records that never expire (every legacy record).
	Expiry int64
}

// PayloadSize is the payload length in bytes, 0 for a NULL payload.
func (r *Record) PayloadSize() int64 {
	if r.Payload == nil {
		return 0
	}
	return int64(len(*r.Payload))
}

// Expired reports whether the record is hidden from clients at unix time
// now (stores keep rows whose expiry is greater than now).
func (r *Record) Expired(now int64) bool {
	return r.Expiry <= now
}

// LegacyUser is an account as a legacy database stores it. Name keeps the
// stored case; NormalizeUsername(Name) is the native name.
type LegacyUser struct {
	// ID is Mozilla PHP's users.id (the wbo.username value); 0 for FSyncMS,
	// which keys everything by name.
	ID   int64
	Name string
	// PasswordHash is users.md5 (FSyncMS) or users.password_hash (Mozilla).
	PasswordHash string
	// Email is nil for FSyncMS, which does not store it, and for NULL.
	Email *string

	// Mozilla PHP only: the other users columns, kept so that a rollback
	// writes the row back unchanged. Nil means NULL.
	Status *int64
	Alert  *string
	Reset  *string
	// Collections maps custom collection names to their per-user ids
	// (Mozilla PHP's collections table, ids >= 101); nil for FSyncMS.
	Collections map[string]int
}

// NativeName is the name the native store and the route table use.
func (u *LegacyUser) NativeName() string {
	return syncstore.NormalizeUsername(u.Name)
}
