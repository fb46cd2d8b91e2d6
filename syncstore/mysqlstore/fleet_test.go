package mysqlstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
)

// TestFleetCustomCollection: a custom collection created through one
// instance is readable and writable through another at once, including
// one that had looked the name up (and missed) before it existed: the
// collection-name cache keeps names, never their absence.
func TestFleetCustomCollection(t *testing.T) {
	dsn := freshDatabase(t)
	a := openStore(t, Config{DSN: dsn})
	defer a.Close()
	b := openStore(t, Config{DSN: dsn})
	defer b.Close()
	ctx := context.Background()
	u := &syncstore.User{Name: "alice", PasswordHash: "h"}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	const coll = "addon-prefs"
	// B misses first: nothing there yet.
	if recs, err := b.GetRecords(ctx, u.ID, coll, &syncstore.Query{}); err != nil || len(recs) != 0 {
		t.Fatalf("B before the collection exists: %v, %v", recs, err)
	}
	if _, err := a.PutRecords(ctx, u.ID, coll, []syncstore.WBO{{ID: "r1", Payload: ptr("from A")}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := b.GetRecord(ctx, u.ID, coll, "r1")
	if err != nil || *w.Payload != "from A" {
		t.Fatalf("B reading A's new collection: %+v, %v", w, err)
	}
	if _, err := b.PutRecords(ctx, u.ID, coll, []syncstore.WBO{{ID: "r2", Payload: ptr("from B")}}, syncstore.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	recs, err := a.GetRecords(ctx, u.ID, coll, &syncstore.Query{})
	if err != nil || len(recs) != 2 {
		t.Fatalf("A reading the collection after B wrote: %d records, %v; want 2", len(recs), err)
	}
	ts, err := b.CollectionTimestamps(ctx, u.ID)
	if err != nil || ts[coll] == 0 {
		t.Errorf("B's info/collections lacks %s: %v, %v", coll, ts, err)
	}

	// Both instances creating the same new names at once agree on each
	// name's id, and no name gets two.
	names := make([]string, 8)
	for i := range names {
		names[i] = fmt.Sprintf("race-%d", i)
	}
	var ids [2][]int
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		ids[i] = make([]int, len(names))
		wg.Go(func() {
			for j, n := range names {
				id, err := s.EnsureCollection(ctx, n)
				if err != nil {
					t.Errorf("instance %d creating %s: %v", i, n, err)
				}
				ids[i][j] = id
			}
		})
	}
	wg.Wait()
	seen := map[int]string{}
	for j, n := range names {
		if ids[0][j] != ids[1][j] || ids[0][j] == 0 {
			t.Errorf("%s: id %d on A, %d on B", n, ids[0][j], ids[1][j])
		}
		if other, dup := seen[ids[0][j]]; dup {
			t.Errorf("%s and %s share id %d", n, other, ids[0][j])
		}
		seen[ids[0][j]] = n
	}
}

// TestFleetPasswordChange: a password changed through instance A stops
// working on instance B within B's auth_cache_ttl (B cannot be told;
// the entry B cached is dated from before it read the old hash), while
// the new password works on B at once. An instance with a long TTL shows
// that the old password does stay valid there until then.
func TestFleetPasswordChange(t *testing.T) {
	dsn := freshDatabase(t)
	a := openStore(t, Config{DSN: dsn})
	defer a.Close()
	b := openStore(t, Config{DSN: dsn})
	defer b.Close()
	ctx := context.Background()
	auth := func(s *Store, ttl time.Duration) *syncstore.Authenticator {
		au, err := syncstore.NewAuthenticator(s, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost, CacheTTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return au
	}
	const ttl = 300 * time.Millisecond
	authA, authB, authLong := auth(a, ttl), auth(b, ttl), auth(b, time.Hour)
	hash, err := authA.HashPassword("old password")
	if err != nil {
		t.Fatal(err)
	}
	u := &syncstore.User{Name: "alice", PasswordHash: hash}
	if err := a.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, au := range []*syncstore.Authenticator{authB, authLong} {
		if _, err := au.Authenticate(ctx, "alice", "old password"); err != nil {
			t.Fatal(err)
		}
	}
	if err := authA.SetPassword(ctx, u, "new password"); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	if _, err := authA.Authenticate(ctx, "alice", "old password"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Errorf("A accepts the old password after changing it: %v", err)
	}
	if _, err := authB.Authenticate(ctx, "alice", "new password"); err != nil {
		t.Errorf("B refuses the new password: %v", err)
	}
	if _, err := authLong.Authenticate(ctx, "alice", "old password"); err != nil {
		t.Errorf("the old password is refused on B before its hour's TTL: %v (then the bound below is not what limits it)", err)
	}
	time.Sleep(time.Until(changed.Add(ttl)))
	if _, err := authB.Authenticate(ctx, "alice", "old password"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Errorf("B accepts the old password %s after the change (auth_cache_ttl %s): %v", time.Since(changed).Round(time.Millisecond), ttl, err)
	}
}
