package deadline

import (
	"context"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// imports bounds the importer's calls. ExportRecords' deadline covers the
// whole stream, fn included: bulk copies should use Unwrap.
type imports struct {
	im      syncstore.BulkStore
	timeout time.Duration
}

func (i *imports) ImportUser(ctx context.Context, u syncstore.User, lastModified syncstore.Timestamp) (*syncstore.User, error) {
	return get(ctx, i.timeout, "importing user", func(ctx context.Context) (*syncstore.User, error) {
		return i.im.ImportUser(ctx, u, lastModified)
	})
}

func (i *imports) ReplaceRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	return call(ctx, i.timeout, "replacing records", func(ctx context.Context) error {
		return i.im.ReplaceRecords(ctx, userID, collection, recs)
	})
}

func (i *imports) InsertRecords(ctx context.Context, userID int64, collection string, recs []syncstore.StoredRecord) error {
	return call(ctx, i.timeout, "inserting records", func(ctx context.Context) error {
		return i.im.InsertRecords(ctx, userID, collection, recs)
	})
}

func (i *imports) DeleteRecordIDs(ctx context.Context, userID int64, collection string, ids []string) error {
	return call(ctx, i.timeout, "deleting records by id", func(ctx context.Context) error {
		return i.im.DeleteRecordIDs(ctx, userID, collection, ids)
	})
}

func (i *imports) ExportRecords(ctx context.Context, userID int64, fn func(collection string, r *syncstore.StoredRecord) error) error {
	return call(ctx, i.timeout, "exporting records", func(ctx context.Context) error {
		return i.im.ExportRecords(ctx, userID, fn)
	})
}

// importerStore is a store with the importer methods.
type importerStore struct {
	*Store
	*imports
}

// routedImporterStore is a store with both (the native backends).
type routedImporterStore struct {
	*Store
	*routes
	*imports
}
