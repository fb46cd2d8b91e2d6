package syncstore_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// countingStore is the real store with its user calls counted, to tell
// cache hits from store round trips. Hooks let a test interfere with a
// call (block it, change the account behind it, fail it).
type countingStore struct {
	syncstore.Store
	lookups atomic.Int64
	updates atomic.Int64

	// beforeLookup runs before LookupUser call number n (1-based).
	beforeLookup func(n int64)
	// afterLookup runs after LookupUser call number n returned.
	afterLookup func(n int64)
	// failUpdate makes UpdateUser fail without touching the store.
	failUpdate error
}

func (s *countingStore) LookupUser(ctx context.Context, name string) (*syncstore.User, error) {
	n := s.lookups.Add(1)
	if s.beforeLookup != nil {
		s.beforeLookup(n)
	}
	u, err := s.Store.LookupUser(ctx, name)
	if s.afterLookup != nil {
		s.afterLookup(n)
	}
	return u, err
}

func (s *countingStore) UpdateUser(ctx context.Context, u *syncstore.User) error {
	s.updates.Add(1)
	if s.failUpdate != nil {
		return s.failUpdate
	}
	return s.Store.UpdateUser(ctx, u)
}

func openStore(t testing.TB) *countingStore {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("opening sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	return &countingStore{Store: st}
}

func newAuth(t testing.TB, st syncstore.Store, cfg syncstore.AuthConfig) *syncstore.Authenticator {
	t.Helper()
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = bcrypt.MinCost // keep the tests fast
	}
	a, err := syncstore.NewAuthenticator(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func createUser(t testing.TB, st syncstore.Store, name, passwordHash string) *syncstore.User {
	t.Helper()
	u := &syncstore.User{Name: name, PasswordHash: passwordHash, Email: name + "@example.com"}
	if err := st.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("creating user %q: %v", name, err)
	}
	return u
}

func storedHash(t testing.TB, st syncstore.Store, name string) string {
	t.Helper()
	u, err := st.LookupUser(context.Background(), name)
	if err != nil {
		t.Fatalf("looking up %q: %v", name, err)
	}
	return u.PasswordHash
}

func bcryptHash(t testing.TB, password string, cost int) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func md5Hex(password string) string {
	sum := md5.Sum([]byte(password))
	return hex.EncodeToString(sum[:])
}

func saltedHash(tag string, newHash func() hash.Hash, password, salt string) string {
	h := newHash()
	h.Write([]byte(password + salt))
	return tag + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

func TestAuthenticateUpgradesLegacyHashes(t *testing.T) {
	const pw = "legacy password"
	tests := []struct{ name, hash string }{
		{"md5", md5Hex(pw)},
		{"ssha-256", saltedHash("{SSHA-256}", sha256.New, pw, "Xy7pQ2rZ")},
		{"ssha", saltedHash("{SSHA}", sha1.New, pw, "Xy7pQ2rZ")},
		{"bcrypt at another cost", bcryptHash(t, pw, bcrypt.MinCost+1)},
	}
	st := openStore(t)
	// No cache: the second login must verify against the stored hash.
	a := newAuth(t, st, syncstore.AuthConfig{CacheSize: -1})
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "u" + strings.NewReplacer("-", "", " ", "").Replace(tt.name)
			created := createUser(t, st, name, tt.hash)

			u, err := a.Authenticate(ctx, name, pw)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if u.ID != created.ID || u.Name != name {
				t.Errorf("authenticated %+v, want user %d %q", u, created.ID, name)
			}
			after := storedHash(t, st, name)
			if !strings.HasPrefix(after, "$2a$04$") {
				t.Fatalf("stored hash after login is not bcrypt at cost 4 (prefix %q)", after[:min(7, len(after))])
			}
			if u.PasswordHash != after {
				t.Error("returned user does not carry the upgraded hash")
			}
			if after2 := storedHash(t, st, name); after2 != after {
				t.Error("stored hash changed again")
			}
			if ok, rehash, err := a.VerifyPassword(after, pw); !ok || rehash || err != nil {
				t.Errorf("VerifyPassword(upgraded) = %v, %v, %v", ok, rehash, err)
			}
			if _, err := a.Authenticate(ctx, name, pw); err != nil {
				t.Errorf("login with the upgraded hash: %v", err)
			}
			if _, err := a.Authenticate(ctx, name, pw+"x"); !errors.Is(err, syncstore.ErrBadCredentials) {
				t.Errorf("wrong password after upgrade: err = %v", err)
			}
			if u.Email != name+"@example.com" {
				t.Errorf("email lost on rehash: %q", u.Email)
			}
		})
	}
}

func TestAuthenticateBadCredentials(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{})
	ctx := context.Background()
	createUser(t, st, "alice", bcryptHash(t, "right", bcrypt.MinCost))
	createUser(t, st, "broken", "{CRYPT}abcdefgh")

	for _, c := range []struct{ name, user, pw string }{
		{"unknown user", "nobody", "right"},
		{"wrong password", "alice", "wrong"},
		{"empty password", "alice", ""},
		{"invalid username", "al/ice", "right"},
		{"unusable stored hash", "broken", "anything"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, err := a.Authenticate(ctx, c.user, c.pw)
			if !errors.Is(err, syncstore.ErrBadCredentials) {
				t.Errorf("Authenticate = %v, %v; want ErrBadCredentials", u, err)
			}
		})
	}
	if u, err := a.Authenticate(ctx, "ALICE", "right"); err != nil || u.Name != "alice" {
		t.Errorf("case-insensitive login = %v, %v", u, err)
	}
}

func TestAuthenticateCacheHitAvoidsStore(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{})
	ctx := context.Background()
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))

	first, err := a.Authenticate(ctx, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	first.Email = "scribbled@example.com" // must not reach the cache
	for range 5 {
		u, err := a.Authenticate(ctx, "alice", "pw")
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "alice@example.com" || u.Name != "alice" {
			t.Fatalf("cached user = %+v", u)
		}
	}
	if _, err := a.Authenticate(ctx, "Alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if n := st.lookups.Load(); n != 1 {
		t.Errorf("%d LookupUser calls for 7 logins, want 1", n)
	}
	// A different password is a different cache entry, and wrong.
	if _, err := a.Authenticate(ctx, "alice", "pW"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Errorf("wrong password next to a cached right one: %v", err)
	}
}

func TestAuthenticateWrongPasswordNeverCached(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{})
	ctx := context.Background()
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))
	for range 3 {
		if _, err := a.Authenticate(ctx, "alice", "bad"); !errors.Is(err, syncstore.ErrBadCredentials) {
			t.Fatalf("err = %v", err)
		}
	}
	if n := st.lookups.Load(); n != 3 {
		t.Errorf("%d LookupUser calls for 3 failed logins, want 3", n)
	}
	if _, err := a.Authenticate(ctx, "nobody", "x"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "nobody", "x"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Fatal(err)
	}
	if n := st.lookups.Load(); n != 5 {
		t.Errorf("unknown users were cached: %d lookups, want 5", n)
	}
}

func TestForgetInvalidatesCache(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{})
	ctx := context.Background()
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))
	createUser(t, st, "bob", bcryptHash(t, "pw", bcrypt.MinCost))
	for _, name := range []string{"alice", "bob", "alice", "bob"} {
		if _, err := a.Authenticate(ctx, name, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	a.Forget("alice")
	for _, name := range []string{"alice", "bob"} {
		if _, err := a.Authenticate(ctx, name, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.lookups.Load(); n != 3 {
		t.Errorf("%d lookups, want 3 (alice, bob, alice after Forget)", n)
	}

	// Deleting an account is what Forget is for.
	u, err := st.LookupUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	a.Forget("bob")
	if _, err := a.Authenticate(ctx, "bob", "pw"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Errorf("deleted user still logs in: %v", err)
	}
}

func TestSetPassword(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{})
	ctx := context.Background()
	createUser(t, st, "alice", md5Hex("old password"))

	u, err := a.Authenticate(ctx, "alice", "old password") // now cached
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetPassword(ctx, u, "new password"); err != nil {
		t.Fatalf("SetPassword: %v", err)
	}
	stored := storedHash(t, st, "alice")
	if u.PasswordHash != stored || !strings.HasPrefix(stored, "$2a$04$") {
		t.Errorf("u.PasswordHash = %q, stored %q; want the same bcrypt hash", u.PasswordHash, stored)
	}
	if _, err := a.Authenticate(ctx, "alice", "old password"); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Errorf("old password after SetPassword: err = %v", err)
	}
	got, err := a.Authenticate(ctx, "alice", "new password")
	if err != nil {
		t.Fatalf("new password: %v", err)
	}
	if got.Email != "alice@example.com" {
		t.Errorf("SetPassword lost the email: %q", got.Email)
	}

	if err := a.SetPassword(ctx, u, strings.Repeat("x", 73)); !errors.Is(err, syncstore.ErrPasswordTooLong) {
		t.Errorf("73-byte password: err = %v, want ErrPasswordTooLong", err)
	}
	if _, err := a.Authenticate(ctx, "alice", "new password"); err != nil {
		t.Errorf("a refused SetPassword changed the password: %v", err)
	}
}

func TestAuthenticateCacheTTL(t *testing.T) {
	const ttl = 50 * time.Millisecond
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{CacheTTL: ttl})
	ctx := context.Background()
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))
	for range 2 {
		if _, err := a.Authenticate(ctx, "alice", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if n := st.lookups.Load(); n != 1 {
		t.Fatalf("%d lookups before expiry, want 1", n)
	}
	time.Sleep(3 * ttl)
	if _, err := a.Authenticate(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if n := st.lookups.Load(); n != 2 {
		t.Errorf("%d lookups after the TTL, want 2", n)
	}
}

func TestConcurrentMissesVerifyOnce(t *testing.T) {
	st := openStore(t)
	entered := make(chan struct{})
	release := make(chan struct{})
	st.beforeLookup = func(n int64) {
		if n == 1 {
			close(entered)
			<-release
		}
	}
	// No cache, so only the shared verification can save the lookups.
	a := newAuth(t, st, syncstore.AuthConfig{CacheSize: -1})
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))

	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	login := func() {
		defer wg.Done()
		u, err := a.Authenticate(context.Background(), "alice", "pw")
		if err == nil && u.Name != "alice" {
			err = errors.New("wrong user " + u.Name)
		}
		errs <- err
	}
	wg.Add(1)
	go login()
	<-entered
	wg.Add(n - 1)
	for range n - 1 {
		go login()
	}
	// The others only need to reach the in-flight verification; there is
	// no event to wait for, so give them ample time.
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := st.lookups.Load(); got != 1 {
		t.Errorf("%d concurrent identical logins made %d lookups, want 1", n, got)
	}
}

func TestAuthenticateCallerGivesUp(t *testing.T) {
	st := openStore(t)
	release := make(chan struct{})
	entered := make(chan struct{})
	st.beforeLookup = func(n int64) {
		if n == 1 {
			close(entered)
			<-release
		}
	}
	a := newAuth(t, st, syncstore.AuthConfig{})
	createUser(t, st, "alice", bcryptHash(t, "pw", bcrypt.MinCost))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(ctx, "alice", "pw")
		done <- err
	}()
	<-entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Authenticate after cancel: err = %v", err)
	}
	// The verification goes on without the caller: a second request joins
	// it, and its result fills the cache for a third.
	joined := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(context.Background(), "alice", "pw")
		joined <- err
	}()
	time.Sleep(100 * time.Millisecond) // let it reach the in-flight verification
	close(release)
	if err := <-joined; err != nil {
		t.Fatalf("request joining the abandoned verification: %v", err)
	}
	if _, err := a.Authenticate(context.Background(), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if n := st.lookups.Load(); n != 1 {
		t.Errorf("%d lookups, want 1: the abandoned verification was not shared or not cached", n)
	}
}

func TestRehashDoesNotOverwriteConcurrentChange(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{CacheSize: -1})
	ctx := context.Background()
	createUser(t, st, "alice", md5Hex("old"))
	changed := bcryptHash(t, "changed elsewhere", bcrypt.MinCost)
	st.afterLookup = func(n int64) {
		if n != 1 {
			return
		}
		// Between the login's read and its rehash, the password changes.
		u, err := st.Store.LookupUser(ctx, "alice")
		if err != nil {
			t.Error(err)
			return
		}
		u.PasswordHash = changed
		if err := st.Store.UpdateUser(ctx, u); err != nil {
			t.Error(err)
		}
	}
	if _, err := a.Authenticate(ctx, "alice", "old"); err != nil {
		t.Fatalf("login that verified before the change: %v", err)
	}
	if got := storedHash(t, st, "alice"); got != changed {
		t.Error("rehash overwrote a password changed during the login")
	}
}

func TestRehashFailureKeepsLogin(t *testing.T) {
	st := openStore(t)
	core, logs := observer.New(zapcore.WarnLevel)
	a := newAuth(t, st, syncstore.AuthConfig{CacheSize: -1, Logger: zap.New(core)})
	ctx := context.Background()
	legacy := md5Hex("pw")
	createUser(t, st, "alice", legacy)
	st.failUpdate = errors.New("disk on fire")

	u, err := a.Authenticate(ctx, "alice", "pw")
	if err != nil {
		t.Fatalf("login failed because the rehash did: %v", err)
	}
	if u.PasswordHash != legacy || storedHash(t, st, "alice") != legacy {
		t.Error("hash changed although UpdateUser failed")
	}
	if st.updates.Load() != 1 {
		t.Errorf("%d UpdateUser calls, want 1", st.updates.Load())
	}
	entries := logs.FilterField(zap.String("user_hash", syncstore.UserHash("alice"))).All()
	if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["error"].(string), "disk on fire") {
		t.Errorf("rehash failure not logged with its cause: %+v", entries)
	}
	for _, e := range logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, "pw") && f.Key != "error" {
				t.Errorf("log field %s may hold the password: %q", f.Key, f.String)
			}
		}
	}
}

func TestLongLegacyPasswordKeepsLegacyHash(t *testing.T) {
	st := openStore(t)
	a := newAuth(t, st, syncstore.AuthConfig{CacheSize: -1})
	ctx := context.Background()
	pw := strings.Repeat("long ", 20) // 100 bytes: more than bcrypt can take
	legacy := saltedHash("{SSHA-256}", sha256.New, pw, "abcdefgh")
	createUser(t, st, "alice", legacy)
	for range 2 {
		if _, err := a.Authenticate(ctx, "alice", pw); err != nil {
			t.Fatalf("login with a 100-byte password: %v", err)
		}
	}
	if storedHash(t, st, "alice") != legacy {
		t.Error("a hash bcrypt cannot reproduce replaced the legacy one")
	}
	if st.updates.Load() != 0 {
		t.Errorf("%d UpdateUser calls, want 0", st.updates.Load())
	}
	// bcrypt ignores bytes past 72; the legacy hash must not.
	if _, err := a.Authenticate(ctx, "alice", pw[:72]); !errors.Is(err, syncstore.ErrBadCredentials) {
		t.Errorf("72-byte prefix of the password logged in: %v", err)
	}
}

func TestNewAuthenticatorConfig(t *testing.T) {
	st := openStore(t)
	if _, err := syncstore.NewAuthenticator(nil, syncstore.AuthConfig{}); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := syncstore.NewAuthenticator(st, syncstore.AuthConfig{BcryptCost: 2}); err == nil {
		t.Error("bcrypt cost 2 accepted")
	}
	a, err := syncstore.NewAuthenticator(st, syncstore.AuthConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h, err := a.HashPassword("pw")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost([]byte(h)); c != bcrypt.DefaultCost {
		t.Errorf("default config hashes at cost %d, want %d", c, bcrypt.DefaultCost)
	}
}

// BenchmarkAuthenticate compares a login served from the cache with one
// that reads the store and runs bcrypt at cost 10 (the default).
func BenchmarkAuthenticate(b *testing.B) {
	const pw = "benchmark password"
	for _, bc := range []struct {
		name      string
		cacheSize int
	}{
		{"hit", 0},
		{"miss", -1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st := openStore(b)
			a := newAuth(b, st, syncstore.AuthConfig{BcryptCost: 10, CacheSize: bc.cacheSize})
			createUser(b, st, "alice", bcryptHash(b, pw, 10))
			ctx := context.Background()
			if _, err := a.Authenticate(ctx, "alice", pw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, "alice", pw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
