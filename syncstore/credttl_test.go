package syncstore_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
)

// TestCacheTTLCountsFromVerificationStart: a verification that read the
// password hash before a change made by another instance (which cannot
// make this one forget) must not be trusted for longer than CacheTTL
// after that read, however long the verification took afterwards: that
// is what makes "a password changed anywhere stops working everywhere
// within auth_cache_ttl" exact.
func TestCacheTTLCountsFromVerificationStart(t *testing.T) {
	const ttl = 200 * time.Millisecond
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{CacheTTL: ttl})
	ctx := context.Background()
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))
	var read time.Time
	st.beforeLookup = func(int64) { read = time.Now() }
	st.afterLookup = func(n int64) {
		if n == 1 {
			// A slow verification: bcrypt on a busy box, a slow database.
			time.Sleep(ttl * 3 / 4)
		}
	}
	if _, err := a.Authenticate(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	// Just past ttl after the hash was read (the verification began
	// earlier still): the entry must be gone.
	time.Sleep(time.Until(read.Add(ttl + ttl/20)))
	if _, err := a.Authenticate(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if n := st.lookups.Load(); n != 2 {
		t.Errorf("a credential verified from a hash read %s ago was still trusted (ttl %s): %d lookups, want 2",
			time.Since(read).Round(time.Millisecond), ttl, n)
	}
}
