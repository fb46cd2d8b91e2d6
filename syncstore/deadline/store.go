package deadline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore"
)

// ErrTimeout marks an error returned because a call ran out of its
// deadline. The store's own error stays in the chain.
var ErrTimeout = errors.New("database call timed out")

// Store is a syncstore.Store whose every call gets a deadline.
type Store struct {
	inner   syncstore.Store
	timeout time.Duration
}

var _ syncstore.Store = (*Store)(nil)

// Wrap returns s with every call bounded by timeout, counted from the
// call's start and covering waits for a pool connection. A caller's
// earlier deadline still wins. The result also implements the route table
// and importer methods when s does. timeout <= 0 returns s unchanged.
func Wrap(s syncstore.Store, timeout time.Duration) syncstore.Store {
	if timeout <= 0 {
		return s
	}
	base := &Store{inner: s, timeout: timeout}
	rt, hasRoutes := syncstore.RouteTableOf(s)
	im, hasImport := s.(syncstore.BulkStore)
	switch {
	case hasRoutes && hasImport:
		return &routedImporterStore{base, &routes{rt, timeout}, &imports{im, timeout}}
	case hasRoutes:
		return &routedStore{base, &routes{rt, timeout}}
	case hasImport:
		return &importerStore{base, &imports{im, timeout}}
	}
	return base
}

// Unwrap returns the store without deadlines, for work that is expected
// to run long (bulk copies, operator commands), or s itself when it was
// not wrapped.
func Unwrap(s syncstore.Store) syncstore.Store {
	if w, ok := s.(interface{ unwrap() syncstore.Store }); ok {
		return w.unwrap()
	}
	return s
}

func (s *Store) unwrap() syncstore.Store { return s.inner }

// call runs fn under a context that ends after timeout and explains a
// failure caused by that deadline.
func call(ctx context.Context, timeout time.Duration, what string, fn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := fn(cctx)
	if err == nil || !errors.Is(cctx.Err(), context.DeadlineExceeded) || ctx.Err() != nil || isAnswer(err) {
		// Success, a real answer, or the caller's own context ended
		// (a client that hung up is not a slow database).
		return err
	}
	return fmt.Errorf("%s: %w after %s: %w", what, ErrTimeout, timeout, err)
}

// isAnswer reports whether err is one of the results the store's
// contract defines, which stand even when they arrive at the deadline.
func isAnswer(err error) bool {
	return errors.Is(err, syncstore.ErrNotFound) || errors.Is(err, syncstore.ErrUserExists) ||
		errors.Is(err, syncstore.ErrModified) || errors.Is(err, syncstore.ErrOverQuota) ||
		errors.Is(err, syncstore.ErrNoRoute)
}

// get runs a call returning a value.
func get[T any](ctx context.Context, timeout time.Duration, what string, fn func(context.Context) (T, error)) (T, error) {
	var v T
	err := call(ctx, timeout, what, func(ctx context.Context) error {
		var err error
		v, err = fn(ctx)
		return err
	})
	return v, err
}

// The methods below are syncstore.Store's, each under the deadline.

func (s *Store) CreateUser(ctx context.Context, u *syncstore.User) error {
	return call(ctx, s.timeout, "creating user", func(ctx context.Context) error { return s.inner.CreateUser(ctx, u) })
}

func (s *Store) LookupUser(ctx context.Context, name string) (*syncstore.User, error) {
	return get(ctx, s.timeout, "looking up user", func(ctx context.Context) (*syncstore.User, error) {
		return s.inner.LookupUser(ctx, name)
	})
}

func (s *Store) UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	return get(ctx, s.timeout, "reading the user's last write timestamp", func(ctx context.Context) (syncstore.Timestamp, error) {
		return s.inner.UserTimestamp(ctx, userID)
	})
}

func (s *Store) UpdateUser(ctx context.Context, u *syncstore.User) error {
	return call(ctx, s.timeout, "updating user", func(ctx context.Context) error { return s.inner.UpdateUser(ctx, u) })
}

func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	return call(ctx, s.timeout, "deleting user", func(ctx context.Context) error { return s.inner.DeleteUser(ctx, userID) })
}

func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error) {
	return get(ctx, s.timeout, "listing users", func(ctx context.Context) ([]syncstore.User, error) {
		return s.inner.ListUsers(ctx, after, limit)
	})
}

func (s *Store) CollectionTimestamps(ctx context.Context, userID int64) (map[string]syncstore.Timestamp, error) {
	return get(ctx, s.timeout, "reading collection timestamps", func(ctx context.Context) (map[string]syncstore.Timestamp, error) {
		return s.inner.CollectionTimestamps(ctx, userID)
	})
}

// GetRecordsAndLast is GetRecords and UserTimestamp under one deadline:
// in one call when the store offers it (syncstore.ListStamper), else as
// the two calls (a missing user gives no records and 0).
func (s *Store) GetRecordsAndLast(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, syncstore.Timestamp, error) {
	var last syncstore.Timestamp
	ws, err := get(ctx, s.timeout, "listing records", func(ctx context.Context) ([]syncstore.WBO, error) {
		if ls, ok := s.inner.(syncstore.ListStamper); ok {
			ws, l, err := ls.GetRecordsAndLast(ctx, userID, collection, q)
			last = l
			return ws, err
		}
		l, err := s.inner.UserTimestamp(ctx, userID)
		switch {
		case errors.Is(err, syncstore.ErrNotFound):
			return nil, nil
		case err != nil:
			return nil, err
		}
		last = l
		return s.inner.GetRecords(ctx, userID, collection, q)
	})
	return ws, last, err
}

// GetRecordAndLast is GetRecord and UserTimestamp under one deadline: in
// one call when the store offers it (syncstore.RecordStamper), else as
// the two calls.
func (s *Store) GetRecordAndLast(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, syncstore.Timestamp, error) {
	var last syncstore.Timestamp
	w, err := get(ctx, s.timeout, "loading record", func(ctx context.Context) (*syncstore.WBO, error) {
		if rs, ok := s.inner.(syncstore.RecordStamper); ok {
			w, l, err := rs.GetRecordAndLast(ctx, userID, collection, id)
			last = l
			return w, err
		}
		l, err := s.inner.UserTimestamp(ctx, userID)
		if err != nil {
			return nil, err
		}
		last = l
		return s.inner.GetRecord(ctx, userID, collection, id)
	})
	return w, last, err
}

// CollectionTimestampsAndLast is CollectionTimestamps and UserTimestamp
// under one deadline: in one call when the store offers it, else as the
// two calls (a missing user gives no collections and 0).
func (s *Store) CollectionTimestampsAndLast(ctx context.Context, userID int64, dst []syncstore.CollectionStamp) ([]syncstore.CollectionStamp, syncstore.Timestamp, error) {
	var last syncstore.Timestamp
	stamps, err := get(ctx, s.timeout, "reading collection timestamps", func(ctx context.Context) ([]syncstore.CollectionStamp, error) {
		if ls, ok := s.inner.(syncstore.LastStamper); ok {
			st, l, err := ls.CollectionTimestampsAndLast(ctx, userID, dst)
			last = l
			return st, err
		}
		l, err := s.inner.UserTimestamp(ctx, userID)
		switch {
		case errors.Is(err, syncstore.ErrNotFound):
			return dst, nil
		case err != nil:
			return nil, err
		}
		last = l
		m, err := s.inner.CollectionTimestamps(ctx, userID)
		if err != nil {
			return nil, err
		}
		return syncstore.AppendCollectionStamps(dst, m), nil
	})
	return stamps, last, err
}

func (s *Store) CollectionCounts(ctx context.Context, userID int64) (map[string]int64, error) {
	return get(ctx, s.timeout, "counting records", func(ctx context.Context) (map[string]int64, error) {
		return s.inner.CollectionCounts(ctx, userID)
	})
}

func (s *Store) CollectionUsage(ctx context.Context, userID int64) (map[string]int64, error) {
	return get(ctx, s.timeout, "summing usage", func(ctx context.Context) (map[string]int64, error) {
		return s.inner.CollectionUsage(ctx, userID)
	})
}

func (s *Store) GetRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, error) {
	return get(ctx, s.timeout, "reading records", func(ctx context.Context) ([]syncstore.WBO, error) {
		return s.inner.GetRecords(ctx, userID, collection, q)
	})
}

func (s *Store) GetRecord(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, error) {
	return get(ctx, s.timeout, "reading record", func(ctx context.Context) (*syncstore.WBO, error) {
		return s.inner.GetRecord(ctx, userID, collection, id)
	})
}

func (s *Store) PutRecords(ctx context.Context, userID int64, collection string, recs []syncstore.WBO, opt syncstore.WriteOptions) (*syncstore.WriteResult, error) {
	return get(ctx, s.timeout, "writing records", func(ctx context.Context) (*syncstore.WriteResult, error) {
		return s.inner.PutRecords(ctx, userID, collection, recs, opt)
	})
}

func (s *Store) DeleteRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query, opt syncstore.WriteOptions) (syncstore.Timestamp, error) {
	return get(ctx, s.timeout, "deleting records", func(ctx context.Context) (syncstore.Timestamp, error) {
		return s.inner.DeleteRecords(ctx, userID, collection, q, opt)
	})
}

func (s *Store) DeleteStorage(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	return get(ctx, s.timeout, "deleting storage", func(ctx context.Context) (syncstore.Timestamp, error) {
		return s.inner.DeleteStorage(ctx, userID)
	})
}

func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int64, error) {
	return get(ctx, s.timeout, "purging expired records", func(ctx context.Context) (int64, error) {
		return s.inner.PurgeExpired(ctx, now, limit)
	})
}

// Close closes the wrapped store; it takes no context and gets no
// deadline.
func (s *Store) Close() error {
	return s.inner.Close()
}
