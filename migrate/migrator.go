package migrate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/syncserver/syncserver/syncstore"
)

// DefaultDrain is the command's --drain: PHP Sync servers answer a
// write in tens of milliseconds (FSyncMS with bcrypt-12 auth: about
// 200 ms), and issue 4 wants a user's 503 window under a second at p99.
const DefaultDrain = 500 * time.Millisecond

// Config wires a Migrator.
type Config struct {
	Legacy *LegacyDB
	Native syncstore.BulkStore
	Routes syncstore.RouteTable
	Logger *zap.Logger      // nil: no logs
	Clock  func() time.Time // nil: time.Now

	// Drain is how long the migrator waits after setting a user to
	// migrating (or, rolling back, from native to migrating) before it
	// reads the last changes: the time a write the shim forwarded just
	// before the change may still take to be applied. The shim reads the
	// route table for every request that can write, so no new write is
	// forwarded once the change commits; only those already in flight
	// remain. It must be at least the legacy servers' response time for
	// writes; the shim's legacy timeout is the hard bound after which the
	// client gets a 503, although PHP may still finish such a write.
	// Zero does not wait (tests); the command defaults to DefaultDrain.
	Drain time.Duration
	// RouteCacheBound is the wait of releases whose shim served writes
	// from its route cache.
	//
	// Deprecated: use Drain. When both are set the longer wait applies.
	RouteCacheBound time.Duration
	// LeaseTTL bounds how long a user can stay locked by a run that died
	// (default 2 minutes). Leases are renewed while a user is worked on.
	LeaseTTL time.Duration
	// Node is the legacy node name written into route rows the migrator
	// creates and required of existing ones ("" = the default node).
	Node string
	// DryRun reads and verifies but writes nothing anywhere.
	DryRun bool
	// Limiter, if set, caps the records per second read from the legacy
	// database (shared by all users of a run).
	Limiter *rate.Limiter
	// OnCopy, if set, is told about every batch of records copied (from
	// several goroutines at once).
	OnCopy func(records, bytes int64)
	// Cache, when the native server runs with memcached, is that
	// memcached. The migrator writes the native tables directly, so
	// before it flips a user to native it invalidates the user's cached
	// answers there; a user who was native before (rolled back, changed
	// on legacy, migrated again) would otherwise be served the answers
	// cached before the rollback until they expire. A failed invalidation
	// fails the user, who stays on legacy. Nil: the server has no cache.
	// It is the default database's cache; ShardCaches hold the shards'.
	Cache UserCache

	// Shards are the native shards besides the default database
	// (Native), by name as syncstore.Route.Shard holds it; see shard.go.
	// A legacy user goes to Target's shard; rollbacks read from the
	// user's current shard; MoveUser copies between two of them.
	Shards map[string]ShardStore
	// Target chooses the shard a legacy user's data is copied to ("" =
	// the default database, Native); the flip writes it into the route
	// row. Nil: the default database.
	Target func(user string) string
	// ShardCaches are the server's memcached layers of the shards, by
	// name (key prefix "<prefix><shard>:"), invalidated before a flip to
	// that shard as Cache is for the default database.
	ShardCaches map[string]UserCache
	// KeepSource keeps a moved user's copy on the source shard; by
	// default MoveUser deletes it once the route names the destination.
	KeepSource bool
	// SourceGrace is how long after a move's migrating swap the source
	// copy is kept before it is deleted: reads may follow a route row an
	// instance cached before the swap for up to its route_cache_ttl, and
	// must still find the data there. The user is served from the
	// destination meanwhile; only the deletion waits.
	SourceGrace time.Duration
	// RowlessNative says the server serves users without a route row
	// natively from the default database (no legacy block, or
	// default_state native): a move from the default database takes
	// them, and writes their row.
	RowlessNative bool
}

// UserCache is the native server's cache of per-user answers
// (syncstore/memcache.Store).
type UserCache interface {
	// InvalidateUser makes every cached answer of the user stale on
	// every server, or reports why it could not.
	InvalidateUser(ctx context.Context, userID int64) error
	// MarkExpiring tells every server that the user holds records with
	// an expiry (records: among meta/global and crypto/keys too), whose
	// answers the cache must then not keep past it; it is called before
	// InvalidateUser when a copy wrote such records past the cache.
	MarkExpiring(ctx context.Context, userID int64, records bool) error
}

// Migrator runs the per-user protocol. Its methods are safe to call for
// different users from several goroutines.
type Migrator struct {
	cfg   Config
	log   *zap.Logger
	now   func() time.Time
	owner string
	// urgent is set while users are between their drain and their flip;
	// bulk copies yield to them (urgency.go).
	urgent *urgency
	// fault, when set by tests, is called at each protocol step and can
	// fail it (or, with errKilled, abandon the user without any cleanup,
	// as kill -9 would).
	fault func(step string) error
}

// Protocol steps, for logs, errors and fault injection.
const (
	stepLookup    = "lookup"
	stepLease     = "lease"
	stepBulk      = "bulk copy"
	stepMigrating = "set migrating"
	stepDelta     = "delta copy"
	stepVerify    = "verify"
	stepCache     = "invalidate cache"
	stepFlip      = "flip"
	stepDelete    = "delete source"
)

// errKilled is returned by a test fault to simulate the process dying:
// the protocol stops where it is and leaves the lease to expire.
var errKilled = errors.New("killed")

// New checks cfg and returns a Migrator.
func New(cfg Config) (*Migrator, error) {
	// A run that only moves users between native shards has no legacy
	// database; MigrateUser and RollbackUser refuse to run without one.
	if cfg.Native == nil {
		return nil, errors.New("migrate: no native store")
	}
	if cfg.Routes == nil {
		return nil, errors.New("migrate: no route table")
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 2 * time.Minute
	}
	if cfg.Drain < 0 || cfg.RouteCacheBound < 0 {
		return nil, fmt.Errorf("migrate: negative drain %v", min(cfg.Drain, cfg.RouteCacheBound))
	}
	cfg.Drain = max(cfg.Drain, cfg.RouteCacheBound)
	if cfg.LeaseTTL < time.Second || cfg.LeaseTTL <= 2*cfg.Drain {
		return nil, fmt.Errorf("migrate: lease TTL %v must exceed twice the drain %v", cfg.LeaseTTL, cfg.Drain)
	}
	m := &Migrator{cfg: cfg, log: cfg.Logger, now: cfg.Clock, urgent: &urgency{}}
	if m.log == nil {
		m.log = zap.NewNop()
	}
	if m.now == nil {
		m.now = time.Now
	}
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	m.owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	if len(m.owner) > 64 {
		m.owner = m.owner[len(m.owner)-64:]
	}
	return m, nil
}

// Owner is the lease owner token of this migrator.
func (m *Migrator) Owner() string { return m.owner }

func (m *Migrator) step(name string) error {
	if m.fault != nil {
		return m.fault(name)
	}
	return nil
}

// Action says what happened to a user.
type Action string

const (
	ActionMigrated      Action = "migrated"
	ActionAlreadyNative Action = "already native"
	ActionRolledBack    Action = "rolled back"
	ActionAlreadyLegacy Action = "already legacy"
	ActionDryRun        Action = "dry run"
	ActionMoved         Action = "moved"
	ActionAlreadyMoved  Action = "already moved"
	ActionFailed        Action = "failed"
)

// UserResult reports one user's migration or rollback.
type UserResult struct {
	User   string
	Action Action
	// Records and Bytes are the user's data at the source.
	Records, Bytes int64
	// Written counts records written to the destination (bulk + delta);
	// DeltaWritten and DeltaDeleted the part copied while the user was
	// unavailable.
	Written      int64
	DeltaWritten int
	DeltaDeleted int
	// Window is how long the user was in the migrating state (clients
	// got 503) — zero if it never got there.
	Window   time.Duration
	Duration time.Duration
	// Bulk, Delta and Verify are the time the migration spent in those
	// steps (Delta and Verify are part of Window): where a window goes.
	Bulk, Delta, Verify time.Duration
	// Step is where a failure happened.
	Step string
	Err  error
	// Notes are informational findings (dry-run differences, a password
	// hash the legacy server cannot verify, …).
	Notes []string
	// From and To name the shards of a move or of a migration into a
	// shard ("default" for the default database); empty otherwise.
	From, To string

	windowStart time.Time
}

// stepError records the step of a failure.
type stepError struct {
	step string
	err  error
}

func (e *stepError) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

func at(step string, err error) error {
	if err == nil {
		return nil
	}
	var se *stepError
	if errors.As(err, &se) {
		return err
	}
	return &stepError{step: step, err: err}
}

// finish fills the failure fields of res from err.
func finish(res *UserResult, start time.Time, now time.Time, err error) *UserResult {
	res.Duration = now.Sub(start)
	if err != nil {
		res.Action = ActionFailed
		res.Err = err
		var se *stepError
		if errors.As(err, &se) {
			res.Step = se.step
		}
	}
	return res
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
