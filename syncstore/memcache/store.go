package memcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	gomemcache "github.com/bradfitz/gomemcache/memcache"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// Store is a syncstore.Store that answers the hot reads from memcached and
// passes everything else, and every write, to the inner store. See the
// package documentation for how it stays correct with several instances.
type Store struct {
	inner   syncstore.Store
	client  *gomemcache.Client
	keys    keys
	ttl     int32 // seconds, for memcached items
	logger  *zap.Logger
	health  health
	pending pendingSet
	count   counters

	wake      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ syncstore.Store = (*Store)(nil)

// New wraps inner. It does not contact memcached: a memcached that is down
// at start only means the reads go to inner until it answers. Close closes
// inner too.
func New(inner syncstore.Store, cfg Config, logger *zap.Logger) (*Store, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("memcache config: %w", err)
	}
	var servers gomemcache.ServerList
	if err := servers.SetServers(cfg.Servers...); err != nil {
		return nil, fmt.Errorf("memcache servers %q: %w", cfg.Servers, err)
	}
	client := gomemcache.NewFromSelector(&servers)
	client.Timeout = cfg.Timeout
	client.MaxIdleConns = cfg.MaxIdleConns
	if logger == nil {
		logger = zap.NewNop()
	}
	s := &Store{
		inner:  inner,
		client: client,
		keys:   newKeys(cfg.Prefix),
		ttl:    int32(cfg.TTL / time.Second),
		logger: logger,
		health: health{cooldown: cfg.Cooldown, logger: logger},
		wake:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go s.flushLoop()
	return s, nil
}

// Close stops the background retries (delivering what it can at once),
// drops the memcached connections and closes the inner store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		if s.pending.len() > 0 {
			s.flushPending()
			if n := s.pending.len(); n > 0 {
				s.logger.Warn("closing with undelivered cache invalidations; other instances may serve stale answers until their TTL",
					zap.Int("pending", n))
			}
		}
		_ = s.client.Close() // only idle connections; nothing to report
		s.closeErr = s.inner.Close()
	})
	return s.closeErr
}

// wrote reports whether a failed write may still have changed the store:
// the sentinel errors are answers given before anything was written, any
// other error may have come after the commit.
func wrote(err error) bool {
	return err == nil || !(errors.Is(err, syncstore.ErrModified) ||
		errors.Is(err, syncstore.ErrOverQuota) ||
		errors.Is(err, syncstore.ErrNotFound) ||
		errors.Is(err, syncstore.ErrUserExists))
}

// CreateUser creates the account. The id's generation is bumped because a
// backend may reuse the id of a deleted account (SQLite rowids do).
func (s *Store) CreateUser(ctx context.Context, u *syncstore.User) error {
	s.count.inner[mCreateUser].Add(1)
	err := s.inner.CreateUser(ctx, u)
	if err == nil {
		s.invalidate(u.ID)
	}
	return err
}

// LookupUser is not cached: it would put password hashes in memcached,
// where anyone who can reach it could read or replace them, and verified
// credentials are cached in process already (syncstore's credential cache).
func (s *Store) LookupUser(ctx context.Context, name string) (*syncstore.User, error) {
	s.count.inner[mLookupUser].Add(1)
	return s.inner.LookupUser(ctx, name)
}

// UpdateUser changes nothing the cache holds.
func (s *Store) UpdateUser(ctx context.Context, u *syncstore.User) error {
	s.count.inner[mUpdateUser].Add(1)
	return s.inner.UpdateUser(ctx, u)
}

// DeleteUser removes the account and its records.
func (s *Store) DeleteUser(ctx context.Context, userID int64) error {
	s.count.inner[mDeleteUser].Add(1)
	err := s.inner.DeleteUser(ctx, userID)
	if wrote(err) {
		s.invalidate(userID)
	}
	return err
}

// ListUsers is for operator tools; not cached.
func (s *Store) ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error) {
	s.count.inner[mListUsers].Add(1)
	return s.inner.ListUsers(ctx, after, limit)
}

// CollectionCounts is rare (about:sync, quota UIs); not cached.
func (s *Store) CollectionCounts(ctx context.Context, userID int64) (map[string]int64, error) {
	s.count.inner[mCollectionCounts].Add(1)
	return s.inner.CollectionCounts(ctx, userID)
}

// GetRecords lists records; downloads differ per client and are not
// cached.
func (s *Store) GetRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, error) {
	s.count.inner[mGetRecords].Add(1)
	return s.inner.GetRecords(ctx, userID, collection, q)
}

// GetRecordsAndLast is GetRecords and UserTimestamp
// (syncstore.ListStamper): listings are not cached, so it is the inner
// store's combined read when it has one, else the two reads.
func (s *Store) GetRecordsAndLast(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, syncstore.Timestamp, error) {
	if ls, ok := s.inner.(syncstore.ListStamper); ok {
		s.count.inner[mGetRecords].Add(1)
		return ls.GetRecordsAndLast(ctx, userID, collection, q)
	}
	last, err := s.UserTimestamp(ctx, userID)
	switch {
	case errors.Is(err, syncstore.ErrNotFound):
		return nil, 0, nil
	case err != nil:
		return nil, 0, err
	}
	ws, err := s.GetRecords(ctx, userID, collection, q)
	return ws, last, err
}

// PutRecords writes through to the inner store and invalidates the user's
// cached answers after the commit.
func (s *Store) PutRecords(ctx context.Context, userID int64, collection string, recs []syncstore.WBO, opt syncstore.WriteOptions) (*syncstore.WriteResult, error) {
	if f := ttlFlags(collection, recs); f != 0 {
		s.markTTL(userID, f)
	}
	s.count.inner[mPutRecords].Add(1)
	res, err := s.inner.PutRecords(ctx, userID, collection, recs, opt)
	if wrote(err) {
		s.invalidate(userID)
	}
	return res, err
}

// DeleteRecords deletes through to the inner store and invalidates the
// user's cached answers after the commit.
func (s *Store) DeleteRecords(ctx context.Context, userID int64, collection string, q *syncstore.Query, opt syncstore.WriteOptions) (syncstore.Timestamp, error) {
	s.count.inner[mDeleteRecords].Add(1)
	ts, err := s.inner.DeleteRecords(ctx, userID, collection, q, opt)
	if wrote(err) {
		s.invalidate(userID)
	}
	return ts, err
}

// DeleteStorage wipes the user's records and invalidates the cache.
func (s *Store) DeleteStorage(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	s.count.inner[mDeleteStorage].Add(1)
	ts, err := s.inner.DeleteStorage(ctx, userID)
	if wrote(err) {
		s.invalidate(userID)
	}
	return ts, err
}

// PurgeExpired deletes expired rows of any user; info/collections counts
// those rows until then, so a purge that removed something invalidates
// every cached answer (one epoch bump) rather than naming users.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int64, error) {
	s.count.inner[mPurgeExpired].Add(1)
	n, err := s.inner.PurgeExpired(ctx, now, limit)
	if n > 0 || err != nil {
		s.invalidateAll()
	}
	return n, err
}
