package syncstore

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"
)

// ErrBadCredentials: unknown user or wrong password (401).
var ErrBadCredentials = errors.New("bad credentials")

// AuthConfig configures an Authenticator.
type AuthConfig struct {
	// BcryptCost is the cost of new hashes and of the rehash on login;
	// 0 means bcrypt.DefaultCost.
	BcryptCost int
	// CacheTTL is how long a verified password is trusted without
	// checking the store again; 0 means DefaultCredCacheTTL.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached credentials; 0 means
	// DefaultCredCacheSize, < 0 disables the cache.
	CacheSize int
	// Logger receives failures that do not fail a login (rehash errors,
	// unreadable stored hashes). Nil discards them.
	Logger *zap.Logger
}

// verifyTimeout bounds one shared verification. It runs detached from the
// request that started it, so that request's client hanging up does not
// fail the other requests waiting on the same result.
const verifyTimeout = 30 * time.Second

// userLockStripes is the number of mutexes that serialise password
// writes per user (rehash on login vs. SetPassword).
const userLockStripes = 64

// Authenticator checks Basic-auth credentials against a Store, caching
// successes and upgrading legacy password hashes to bcrypt on login.
type Authenticator struct {
	store  Store
	cost   int
	logger *zap.Logger
	cache  *credCache
	flight singleflight.Group

	lockSeed  maphash.Seed
	userLocks [userLockStripes]sync.Mutex
}

// NewAuthenticator returns an Authenticator over store.
func NewAuthenticator(store Store, cfg AuthConfig) (*Authenticator, error) {
	if store == nil {
		return nil, errors.New("authenticator needs a store")
	}
	cost := cfg.BcryptCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d outside [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	cache, err := newCredCache(cfg.CacheSize, cfg.CacheTTL)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = zap.NewNop()
	}
	return &Authenticator{
		store:    store,
		cost:     cost,
		logger:   logger,
		cache:    cache,
		lockSeed: maphash.MakeSeed(),
	}, nil
}

// Authenticate returns the user named name if password is theirs, and
// an error matching ErrBadCredentials (errors.Is; it is wrapped when the
// stored hash is unusable) if the user does not exist or the password is
// wrong. Other errors mean the store failed (503). The returned User is the
// caller's to modify.
func (a *Authenticator) Authenticate(ctx context.Context, name, password string) (*User, error) {
	if !ValidUsername(name) {
		return nil, ErrBadCredentials
	}
	key := a.cache.key(name, password)
	if u, ok := a.cache.get(key); ok {
		return u, nil
	}
	return a.verifyShared(ctx, key, name, password)
}

// verifyShared is Authenticate on a cache miss: one verification per key
// at a time, its result cached. It is a function of its own because the
// flight's closure captures key, which would otherwise be moved to the
// heap on every call, cache hits included.
func (a *Authenticator) verifyShared(ctx context.Context, key credKey, name, password string) (*User, error) {
	epoch := a.cache.currentEpoch()
	// The epoch is part of the flight key so that a request arriving after
	// a password change cannot join a verification against the old hash.
	flightKey := string(key[:]) + strconv.FormatUint(epoch.n, 10)
	ch := a.flight.DoChan(flightKey, func() (any, error) {
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), verifyTimeout)
		defer cancel()
		u, err := a.verify(vctx, name, password)
		if err != nil {
			return nil, err
		}
		a.cache.add(key, u, epoch)
		return u, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		// Every waiter shares the flight's *User; hand each its own.
		u := *res.Val.(*User)
		return &u, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// verify checks the password against the store and upgrades a legacy hash.
func (a *Authenticator) verify(ctx context.Context, name, password string) (*User, error) {
	u, err := a.store.LookupUser(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("looking up user %q: %w", name, err)
	}
	ok, needsRehash, err := verifyPassword(u.PasswordHash, password, a.cost)
	if err != nil {
		// The account cannot log in until an operator resets its
		// password; answering 503 forever would hide that.
		a.logger.Error("stored password hash unusable",
			UserField(a.logger, u.Name), zap.Error(err))
		return nil, fmt.Errorf("user %q: %w: %w", u.Name, ErrBadCredentials, err)
	}
	if !ok {
		return nil, ErrBadCredentials
	}
	if needsRehash {
		if upgraded, err := a.rehash(ctx, u, password); err != nil {
			a.logger.Warn("upgrading password hash failed; keeping the old one",
				UserField(a.logger, u.Name), zap.Error(err))
		} else {
			u = upgraded
		}
	}
	return u, nil
}

// rehash stores a bcrypt hash of the (just verified) password in place of
// u's legacy one. It re-reads the user under the user's lock and gives up
// if the hash changed meanwhile, so it never overwrites a password set by a
// concurrent SetPassword.
func (a *Authenticator) rehash(ctx context.Context, u *User, password string) (*User, error) {
	if len(password) > maxBcryptPassword {
		// Rehashing would need a password bcrypt can take whole; the
		// legacy hash keeps working.
		return nil, ErrPasswordTooLong
	}
	// Hash outside the lock: it is the slow part.
	h, err := HashPassword(password, a.cost)
	if err != nil {
		return nil, err
	}
	mu := a.userLock(u.Name)
	mu.Lock()
	defer mu.Unlock()
	cur, err := a.store.LookupUser(ctx, u.Name)
	if err != nil {
		return nil, fmt.Errorf("re-reading user %q: %w", u.Name, err)
	}
	if cur.ID != u.ID || cur.PasswordHash != u.PasswordHash {
		return nil, fmt.Errorf("password of user %q changed during login", u.Name)
	}
	cur.PasswordHash = h
	if err := a.store.UpdateUser(ctx, cur); err != nil {
		return nil, fmt.Errorf("storing upgraded hash of user %q: %w", u.Name, err)
	}
	return cur, nil
}

// VerifyPassword is the package's VerifyPassword with needsRehash judged
// against the configured bcrypt cost.
func (a *Authenticator) VerifyPassword(hash, password string) (ok bool, needsRehash bool, err error) {
	return verifyPassword(hash, password, a.cost)
}

// HashPassword hashes password at the configured bcrypt cost.
func (a *Authenticator) HashPassword(password string) (string, error) {
	return HashPassword(password, a.cost)
}

// SetPassword stores a new password for u (which must exist), sets
// u.PasswordHash and drops u's cached credentials so the old password stops
// working at once.
func (a *Authenticator) SetPassword(ctx context.Context, u *User, password string) error {
	h, err := a.HashPassword(password)
	if err != nil {
		return fmt.Errorf("setting password of user %q: %w", u.Name, err)
	}
	mu := a.userLock(u.Name)
	mu.Lock()
	defer mu.Unlock()
	upd := *u
	upd.PasswordHash = h
	if err := a.store.UpdateUser(ctx, &upd); err != nil {
		return fmt.Errorf("setting password of user %q: %w", u.Name, err)
	}
	a.Forget(u.Name)
	u.PasswordHash = h
	return nil
}

// Forget drops every cached credential of the user; call it after any
// change to the account made without SetPassword (deletion, a direct
// UpdateUser).
func (a *Authenticator) Forget(name string) {
	a.cache.forget(name)
}

// Close releases the cached credentials. The Authenticator still works
// afterwards, with an empty cache.
func (a *Authenticator) Close() {
	a.cache.purge()
}

func (a *Authenticator) userLock(name string) *sync.Mutex {
	h := maphash.String(a.lockSeed, NormalizeUsername(name))
	return &a.userLocks[h%userLockStripes]
}
