package memcache

import (
	"context"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

var _ syncstore.BulkStore = (*Store)(nil)

// The migrate tool's import and export pass through to the inner store;
// the bulk writes invalidate the user's cached answers like protocol
// writes, so an import made through this layer is seen at once. (An import
// made by another process on the database directly is not: it bumps no
// generation, and the cached answers last until Config.TTL.)

func (s *Store) bulk() (syncstore.BulkStore, error) {
	b, ok := s.inner.(syncstore.BulkStore)
	if !ok {
		return nil, fmt.Errorf("the %T store underneath the cache has no bulk import", s.inner)
	}
	return b, nil
}

// ImportUser passes through and invalidates: it may raise the user's
// write timestamp, which UserTimestamp caches.
func (s *Store) ImportUser(ctx context.Context, u syncstore.User, lastModified syncstore.Timestamp) (*syncstore.User, error) {
	b, err := s.bulk()
	if err != nil {
		return nil, err
	}
	out, err := b.ImportUser(ctx, u, lastModified)
	if err == nil {
		// As CreateUser: the id may be one a deleted account had.
		s.invalidate(out.ID)
	}
	return out, err
}

// ReplaceRecords writes through and invalidates the user's answers. Records
// with an expiry flag the user first, as PutRecords does for a TTL: an
// imported record expires without a write too (a shard move copies the
// expiry of every record).
func (s *Store) ReplaceRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	b, err := s.bulk()
	if err != nil {
		return err
	}
	if f := storedTTLFlags(collection, recs); f != 0 {
		s.markTTL(userID, f)
	}
	err = b.ReplaceRecords(ctx, userID, collection, recs)
	if wrote(err) {
		s.invalidate(userID)
	}
	return err
}

// InsertRecords writes through and invalidates the user's answers.
func (s *Store) InsertRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	b, err := s.bulk()
	if err != nil {
		return err
	}
	if f := storedTTLFlags(collection, recs); f != 0 {
		s.markTTL(userID, f)
	}
	err = b.InsertRecords(ctx, userID, collection, recs)
	if wrote(err) {
		s.invalidate(userID)
	}
	return err
}

// DeleteRecordIDs deletes through and invalidates the user's answers.
func (s *Store) DeleteRecordIDs(ctx context.Context, userID int64, collection string, ids []string) error {
	b, err := s.bulk()
	if err != nil {
		return err
	}
	err = b.DeleteRecordIDs(ctx, userID, collection, ids)
	if wrote(err) {
		s.invalidate(userID)
	}
	return err
}

// ExportRecords reads the inner store: exports are not cached.
func (s *Store) ExportRecords(ctx context.Context, userID int64, fn func(collection string, r *syncstore.StoredRecord) error) error {
	b, err := s.bulk()
	if err != nil {
		return err
	}
	return b.ExportRecords(ctx, userID, fn)
}
