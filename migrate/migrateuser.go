package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// MigrateUser moves one user from the legacy database to the native
// store (issue 4's protocol):
//
//  1. take a lease on the user's route row (the user stays on legacy);
//  2. bulk copy, writing only what the native copy does not hold yet;
//  3. set the route to migrating (clients get 503; the shim reads the
//     route for every write, so none is forwarded any more) and wait the
//     drain, so no write forwarded before is still being applied;
//  4. copy the delta: records whose fingerprint changed (fingerprint.go:
//     metadata exactly, the payload by length and CRC-32), deletions by
//     id set; the bulk copy's digests stand for the records unchanged;
//  5. verify counts, newest modified, checksums, meta/global and
//     crypto/keys byte for byte, collection timestamps, the credential;
//  6. invalidate the user's answers in the server's memcached (Config.Cache),
//     which the direct writes above did not;
//  7. flip the route to native on the target shard (Config.Target).
//
// Any failure puts the route back to legacy with the reason, leaving the
// native copy for the next attempt. It is safe to run again at any time:
// a user already native is left alone. The error is also in the result.
func (m *Migrator) MigrateUser(ctx context.Context, name string) (*UserResult, error) {
	start := time.Now()
	res := &UserResult{User: syncstore.NormalizeUsername(name)}
	err := m.migrateUser(ctx, name, res)
	finish(res, start, time.Now(), err)
	if err != nil {
		m.log.Error("migration failed", m.userField(res.User), zap.String("step", res.Step), zap.Error(err))
	} else {
		m.log.Info("user done", m.userField(res.User), zap.String("action", string(res.Action)), optString("shard", res.To), zap.Int64("records", res.Records),
			zap.Int64("bytes", res.Bytes), zap.Duration("window", res.Window), zap.Duration("duration", res.Duration))
	}
	return res, err
}

func (m *Migrator) migrateUser(ctx context.Context, name string, res *UserResult) (err error) {
	if m.cfg.Legacy == nil {
		return at(stepLookup, errNoLegacy)
	}
	if err := m.step(stepLookup); err != nil {
		return at(stepLookup, err)
	}
	lu, err := m.cfg.Legacy.LookupUser(ctx, name)
	if err != nil {
		return at(stepLookup, err)
	}
	res.User = lu.NativeName()
	if !syncstore.ValidUsername(res.User) {
		return at(stepLookup, fmt.Errorf("legacy username %q is not valid in the native store ([A-Za-z0-9._-]{1,32})", lu.Name))
	}
	if err := checkMigratableUser(m.cfg.Legacy.Schema(), lu); err != nil {
		return at(stepLookup, err)
	}
	// The shard the data goes to (Config.Target); the migrator works on
	// its store from here on.
	target := m.targetOf(res.User)
	if len(m.cfg.Shards) > 0 {
		res.To = syncstore.ShardLabel(target)
	}
	all := m // every shard, the default database as itself
	if m, err = m.onShard(target); err != nil {
		return at(stepLookup, err)
	}
	if m.cfg.DryRun {
		return m.dryRun(ctx, lu, res)
	}

	cur, exists, err := m.currentRoute(ctx, res.User)
	if err != nil {
		return at(stepLease, err)
	}
	if cur.State == syncstore.RouteNative && !cur.LeaseHeld(m.now()) && cur.Owner == "" {
		res.Action = ActionAlreadyNative
		return nil
	}
	l, err := m.acquire(ctx, cur, exists, syncstore.RouteLegacy)
	if err != nil {
		return at(stepLease, err)
	}
	if l.cur.State == syncstore.RouteNative {
		// A rollback died before it copied anything: the user is native.
		res.Action = ActionAlreadyNative
		return at(stepLease, l.release(ctx, syncstore.RouteNative, cur.LastError))
	}
	// From here on every failure puts the route back to legacy, unless
	// the process is "killed" (tests), which leaves the lease to expire.
	defer func() {
		if err == nil || errors.Is(err, errKilled) {
			return
		}
		// A fresh context: the caller's may be what was cancelled.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := l.release(cctx, syncstore.RouteLegacy, err.Error()); rerr != nil {
			m.log.Error("putting the route back to legacy failed; the lease will expire", m.userField(res.User), zap.Error(rerr))
		}
		if !res.windowStart.IsZero() {
			res.Window = time.Since(res.windowStart)
		}
	}()

	if err := m.step(stepBulk); err != nil {
		return at(stepBulk, err)
	}
	imported := nativeUser(lu)
	nu, err := m.cfg.Native.ImportUser(ctx, imported, 0)
	if err != nil {
		return at(stepBulk, fmt.Errorf("creating the native user: %w", err))
	}
	t := time.Now()
	bulk, err := m.bulkCopy(ctx, lu, nu.ID, l, res)
	res.Bulk = time.Since(t)
	if err != nil {
		return at(stepBulk, err)
	}

	endUrgent, err := m.openWindow(ctx, l, res)
	if err != nil {
		return err
	}
	defer endUrgent()

	if err := m.step(stepDelta); err != nil {
		return at(stepDelta, err)
	}
	t = time.Now()
	// The password may have changed during the bulk copy: read the user
	// again beside the delta's scan, which needs only the name and id.
	type lookup struct {
		u   *LegacyUser
		err error
	}
	relookup := make(chan lookup, 1)
	go func() {
		u, err := m.cfg.Legacy.LookupUser(ctx, lu.Name)
		relookup <- lookup{u, err}
	}()
	sum, err := m.deltaCopy(ctx, lu, nu.ID, bulk, res)
	fresh := <-relookup
	if fresh.err != nil {
		return at(stepDelta, fresh.err)
	}
	if err != nil {
		return at(stepDelta, err)
	}
	if fresh.u.ID != lu.ID || fresh.u.Name != lu.Name {
		// Deleted and registered again meanwhile: the delta read the old
		// account's rows.
		return at(stepDelta, fmt.Errorf("legacy user %q was replaced during the bulk copy (now %q, id %d); run the migration again", lu.Name, fresh.u.Name, fresh.u.ID))
	}
	lu = fresh.u
	if err := checkMigratableUser(m.cfg.Legacy.Schema(), lu); err != nil {
		return at(stepDelta, err)
	}
	// Only a changed credential needs a write here: every ReplaceRecords
	// already raised users.last_modified to its newest record, and a
	// write in the window waits for the bulk batches queued at SQLite's
	// writer.
	if nativeUser(lu) != imported {
		if _, err := m.cfg.Native.ImportUser(ctx, nativeUser(lu), sum.Newest()); err != nil {
			return at(stepDelta, fmt.Errorf("updating the native user: %w", err))
		}
	}
	res.Delta = time.Since(t)

	if err := m.step(stepVerify); err != nil {
		return at(stepVerify, err)
	}
	t = time.Now()
	if err := m.verifyNative(ctx, lu, nu.ID, sum); err != nil {
		return at(stepVerify, err)
	}
	res.Verify = time.Since(t)

	// After the last native write, before clients can see it: a reader
	// that caches between here and the flip reads the final rows.
	if err := m.step(stepCache); err != nil {
		return at(stepCache, err)
	}
	if m.cfg.Cache != nil {
		if err := m.cfg.Cache.InvalidateUser(ctx, nu.ID); err != nil {
			return at(stepCache, err)
		}
	}

	if err := m.step(stepFlip); err != nil {
		return at(stepFlip, err)
	}
	// A row naming another shard may have a copy left there by a
	// rollback (RollbackUser keeps the native copy): the lease is kept
	// through its deletion, so that no move onto that shard meanwhile
	// finds the copy and loses it to us.
	left := exists && cur.Shard != target
	if err := l.flipTo(ctx, target, left); err != nil {
		return at(stepFlip, err)
	}
	res.Window = time.Since(res.windowStart)
	endUrgent()
	res.Action = ActionMigrated
	if left {
		all.deleteLeftCopy(ctx, res, cur.Shard)
		// The user is native from the flip on: a failure here must not
		// reach the deferred put-back to legacy. The row is native, so
		// the lease, if not ended, just expires.
		if rerr := l.release(ctx, syncstore.RouteNative, ""); rerr != nil {
			m.log.Error("ending the lease after the flip failed; it will expire", m.userField(res.User), zap.Error(rerr))
		}
	}
	return nil
}

// deleteLeftCopy deletes the native copy a rollback left on shard, which
// the user's row named until a migration flipped them to another one:
// nobody reads it any more, and no later run would look for it there. The
// user is migrated whatever happens here: a failure is a note.
func (m *Migrator) deleteLeftCopy(ctx context.Context, res *UserResult, shard string) {
	s, err := m.shardOf(shard)
	if err == nil {
		var u *syncstore.User
		u, err = s.LookupUser(ctx, res.User)
		if errors.Is(err, syncstore.ErrNotFound) {
			return
		}
		if err == nil {
			err = s.DeleteUser(ctx, u.ID)
		}
	}
	where := "shard " + syncstore.ShardLabel(shard)
	if err != nil {
		m.log.Warn("deleting the copy a rollback left failed", m.userField(res.User), zap.String("shard", syncstore.ShardLabel(shard)), zap.Error(err))
		res.Notes = append(res.Notes, fmt.Sprintf("the copy a rollback left on %s is still there: %v", where, err))
		return
	}
	res.Notes = append(res.Notes, "deleted the copy a rollback left on "+where)
}

// dryRun reads and checks everything a migration would, and compares with
// a native copy if one exists; it writes nothing.
func (m *Migrator) dryRun(ctx context.Context, lu *LegacyUser, res *UserResult) error {
	res.Action = ActionDryRun
	s := m.cfg.Legacy.Schema()
	want := NewSummary()
	d := newDigester()
	cc := legacyCase(s)
	err := m.cfg.Legacy.Records(ctx, lu, func(c string, r *syncstore.StoredRecord) error {
		if err := cc.check(s, c, r.ID); err != nil {
			return err
		}
		if err := checkImportable(s, c, r); err != nil {
			return err
		}
		if m.cfg.Limiter != nil {
			if err := m.cfg.Limiter.Wait(ctx); err != nil {
				return err
			}
		}
		want.Add(c, d.full(c, r))
		if m.cfg.OnCopy != nil {
			m.cfg.OnCopy(1, r.PayloadSize())
		}
		return nil
	})
	if err != nil {
		return at(stepBulk, err)
	}
	res.Records, res.Bytes = want.Records(), want.Bytes()
	nu, err := m.cfg.Native.LookupUser(ctx, lu.NativeName())
	if errors.Is(err, syncstore.ErrNotFound) {
		res.Notes = append(res.Notes, "no native copy yet")
		return nil
	}
	if err != nil {
		return at(stepVerify, err)
	}
	if err := m.verifyNative(ctx, lu, nu.ID, want); err != nil {
		var ve *VerifyError
		if errors.As(err, &ve) {
			res.Notes = append(res.Notes, fmt.Sprintf("the native copy differs: %s", ve.Error()))
			return nil
		}
		return at(stepVerify, err)
	}
	res.Notes = append(res.Notes, "the native copy is identical")
	return nil
}
