package migrate

import (
	"github.com/syncserver/syncserver/syncstore"
)

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
	// collectionsErr: two collections rows of the user name the same
	// collection for the PHP server; set by the Mozilla reader.
	collectionsErr error
}

// NativeName is the name the native store and the route table use.
func (u *LegacyUser) NativeName() string {
	return syncstore.NormalizeUsername(u.Name)
}
