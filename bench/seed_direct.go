package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// DirectBatch is the records per write of the direct seeding paths: big
// enough to amortise a transaction, small enough for any backend's
// statement limits.
const DirectBatch = 250

// StoreSeeder seeds straight into a native store, with password hashes of
// the given bcrypt cost.
func StoreSeeder(store syncstore.Store, bcryptCost int) Seeder {
	return &directSeeder{store: store, bcryptCost: bcryptCost}
}

// directSeeder writes the data set straight into a native store, skipping
// HTTP and the per-request password check: the fast path for big data
// sets. It bypasses the server's caches, so use it before the server has
// served these accounts (or on a server without memcached).
type directSeeder struct {
	store      syncstore.Store
	bcryptCost int
}

func (s *directSeeder) Method() string { return "direct" }

func (s *directSeeder) Seed(ctx context.Context, d *Account) (bool, error) {
	u, err := s.account(ctx, &d.id)
	if err != nil {
		return false, err
	}
	counts, err := s.store.CollectionCounts(ctx, u.ID)
	if err != nil {
		return false, fmt.Errorf("counting records of %s: %w", d.id.Email, err)
	}
	if d.Complete(counts) {
		return true, nil
	}
	return false, d.Batches(DirectBatch, func(collection string, recs []Record) error {
		if err := s.put(ctx, u.ID, collection, recs); err != nil {
			return fmt.Errorf("seeding %s of %s: %w", collection, d.id.Email, err)
		}
		return nil
	})
}

// account finds or creates the user, checking that an existing one has the
// bench's password (else every request of the run would get 401).
func (s *directSeeder) account(ctx context.Context, id *identity) (*syncstore.User, error) {
	u, err := s.store.LookupUser(ctx, id.Name)
	if err == nil {
		ok, _, err := syncstore.VerifyPassword(u.PasswordHash, id.Password)
		if err != nil || !ok {
			return nil, fmt.Errorf("account %s (%s) exists with another password; use another --user-prefix", id.Email, id.Name)
		}
		return u, nil
	}
	if !errors.Is(err, syncstore.ErrNotFound) {
		return nil, fmt.Errorf("looking up %s: %w", id.Email, err)
	}
	hash, err := syncstore.HashPassword(id.Password, s.bcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hashing the password of %s: %w", id.Email, err)
	}
	u = &syncstore.User{Name: id.Name, PasswordHash: hash, Email: id.Email}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("creating %s: %w", id.Email, err)
	}
	return u, nil
}

func (s *directSeeder) put(ctx context.Context, userID int64, collection string, recs []Record) error {
	wbos := make([]syncstore.WBO, len(recs))
	for i, rec := range recs {
		payload := string(rec.Payload)
		wbos[i] = syncstore.WBO{ID: rec.ID, Payload: &payload}
		if rec.SortIndex >= 0 {
			si := int64(rec.SortIndex)
			wbos[i].SortIndex = &si
		}
	}
	_, err := s.store.PutRecords(ctx, userID, collection, wbos, syncstore.WriteOptions{})
	return err
}
