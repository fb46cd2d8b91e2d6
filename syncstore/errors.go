package syncstore

import "errors"

// Errors a Store returns for conditions the protocol answers specifically.
// Anything else from a store means the back-end is unavailable (503).
var (
	// ErrNotFound: no such user or (unexpired) record.
	ErrNotFound = errors.New("not found")
	// ErrUserExists: CreateUser with a taken name.
	ErrUserExists = errors.New("user already exists")
	// ErrModified: X-If-Unmodified-Since failed (412).
	ErrModified = errors.New("collection modified since the given time")
	// ErrOverQuota: the user's stored bytes reached the quota (400 body 14).
	ErrOverQuota = errors.New("over quota")
)
