package migrate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// Errors of a move that name a wrong selection rather than a failure.
var (
	// ErrNotNative: the user is not served natively (legacy, or being
	// migrated from legacy).
	ErrNotNative = errors.New("not a native user")
	// ErrWrongShard: the user's route names another shard than --from.
	ErrWrongShard = errors.New("user is on another shard")
)

// MoveUser moves one native user from shard from to shard to ("" = the
// default database) online, with the guarantees of MigrateUser
// (SHARDS.md, "Migrate"):
//
//  1. take a lease on the user's row (origin native; the user keeps being
//     served from the source);
//  2. bulk copy: the account (ImportUser), then the records whose digest
//     differs from what the destination already holds; records the
//     destination holds and the source does not are deleted;
//  3. set the row to migrating (clients get 503) and wait the drain for
//     writes already in flight on the source;
//  4. copy the delta by digest (none when the source's last write
//     timestamp has not moved since the bulk copy), and the account again
//     (password, e-mail, last write timestamp);
//  5. verify: every record's digest (expiry included), meta/global and
//     crypto/keys byte for byte, info/collections of both shards, the
//     credential, the last write timestamp;
//  6. invalidate the user's answers in the destination's memcached;
//  7. flip: the row becomes native on the destination (one CAS);
//  8. unless Config.KeepSource, delete the source copy, once
//     Config.SourceGrace has passed since the migrating swap, still under
//     the lease.
//
// A failure before the flip puts the row back to native on the source
// with the reason and removes the partial destination copy (best effort:
// the next attempt overwrites it anyway). A run killed at any point
// leaves a lease that expires: the user is served from the row's shard,
// and the next run resumes from the destination copy left behind. A run
// killed between the flip and the deletion is finished by the next run
// (the row already names the destination: the source copy is deleted).
func (m *Migrator) MoveUser(ctx context.Context, name, from, to string) (*UserResult, error) {
	start := time.Now()
	res := &UserResult{User: syncstore.NormalizeUsername(name), From: syncstore.ShardLabel(from), To: syncstore.ShardLabel(to)}
	err := m.moveUser(ctx, res, from, to)
	finish(res, start, time.Now(), err)
	if err != nil {
		m.log.Error("move failed", m.userField(res.User), zap.String("from", res.From), zap.String("to", res.To),
			zap.String("step", res.Step), zap.Error(err))
	} else {
		m.log.Info("user done", m.userField(res.User), zap.String("action", string(res.Action)), zap.String("from", res.From),
			zap.String("to", res.To), zap.Int64("records", res.Records), zap.Int64("bytes", res.Bytes),
			zap.Duration("window", res.Window), zap.Duration("duration", res.Duration))
	}
	return res, err
}

// nativeRoute reads the user's row for a move; a user without one is
// native on the default database when the server serves rowless users
// natively (Config.RowlessNative), legacy otherwise.
func (m *Migrator) nativeRoute(ctx context.Context, name string) (*syncstore.Route, bool, error) {
	r, err := m.cfg.Routes.GetRoute(ctx, name)
	if errors.Is(err, syncstore.ErrNoRoute) {
		state := syncstore.RouteLegacy
		if m.cfg.RowlessNative {
			state = syncstore.RouteNative
		}
		return &syncstore.Route{Username: name, State: state, Node: m.cfg.Node}, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading the route of %q: %w", name, err)
	}
	return r, true, nil
}

func (m *Migrator) moveUser(ctx context.Context, res *UserResult, from, to string) (err error) {
	if from == to {
		return at(stepLookup, fmt.Errorf("moving %q: source and destination are both shard %s", res.User, syncstore.ShardLabel(from)))
	}
	src, err := m.shardOf(from)
	if err != nil {
		return at(stepLookup, err)
	}
	dst, err := m.shardOf(to)
	if err != nil {
		return at(stepLookup, err)
	}
	if err := m.step(stepLookup); err != nil {
		return at(stepLookup, err)
	}
	cur, exists, err := m.nativeRoute(ctx, res.User)
	if err != nil {
		return at(stepLookup, err)
	}
	now := m.now()
	if cur.LeaseHeld(now) && cur.Owner != m.owner {
		return at(stepLease, fmt.Errorf("%w (%s until %s)", ErrBusy, cur.Owner, cur.LeaseExpires.Format(time.RFC3339)))
	}
	if st := cur.Effective(now); st != syncstore.RouteNative {
		return at(stepLookup, fmt.Errorf("%w: %q is %s; migrate it from legacy first", ErrNotNative, res.User, st))
	}
	switch cur.Shard {
	case to:
		return m.finishMove(ctx, res, cur, exists, src, dst, from, to)
	case from:
	default:
		return at(stepLookup, fmt.Errorf("%w: %q is on shard %s, not %s", ErrWrongShard, res.User, syncstore.ShardLabel(cur.Shard), syncstore.ShardLabel(from)))
	}
	su, err := src.LookupUser(ctx, res.User)
	if errors.Is(err, syncstore.ErrNotFound) {
		return at(stepLookup, fmt.Errorf("user %q has no account on shard %s although its route names it", res.User, syncstore.ShardLabel(from)))
	}
	if err != nil {
		return at(stepLookup, fmt.Errorf("loading %q from shard %s: %w", res.User, syncstore.ShardLabel(from), err))
	}
	if m.cfg.DryRun {
		return m.dryRunMove(ctx, res, src, su, dst)
	}

	l, err := m.acquire(ctx, cur, exists, syncstore.RouteNative)
	if err != nil {
		return at(stepLease, err)
	}
	var du *syncstore.User
	flipped := false
	// Until the flip every failure puts the row back to native on the
	// source, unless the process is "killed" (tests). After the flip the
	// user lives on the destination whatever happens.
	defer func() {
		if err == nil || errors.Is(err, errKilled) || flipped {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := l.release(cctx, syncstore.RouteNative, "move to "+syncstore.ShardLabel(to)+": "+err.Error()); rerr != nil {
			// The row may name the destination after all (a flip whose
			// answer was lost): the destination copy must stay.
			m.log.Error("putting the route back to the source failed; the lease will expire", m.userField(res.User), zap.Error(rerr))
			return
		}
		if !res.windowStart.IsZero() {
			res.Window = time.Since(res.windowStart)
		}
		if du != nil {
			if derr := dst.DeleteUser(cctx, du.ID); derr != nil {
				m.log.Warn("removing the partial destination copy failed; the next attempt overwrites it", m.userField(res.User),
					zap.String("shard", syncstore.ShardLabel(to)), zap.Error(derr))
			}
		}
	}()

	if err := m.step(stepBulk); err != nil {
		return at(stepBulk, err)
	}
	if du, err = dst.ImportUser(ctx, accountOf(su), 0); err != nil {
		return at(stepBulk, fmt.Errorf("creating the account on shard %s: %w", syncstore.ShardLabel(to), err))
	}
	have, err := shardDigests(ctx, dst, du.ID)
	if err != nil {
		return at(stepBulk, fmt.Errorf("reading what shard %s already holds: %w", syncstore.ShardLabel(to), err))
	}
	// Every protocol write gives the user a new, larger last write
	// timestamp (syncstore.Store.UserTimestamp), in its own transaction:
	// if it is the same after the drain as before the bulk copy read the
	// source, nothing changed since, and the delta is empty without
	// reading the source again in the 503 window.
	last0, err := src.UserTimestamp(ctx, su.ID)
	if err != nil {
		return at(stepBulk, fmt.Errorf("reading the last write timestamp on shard %s: %w", syncstore.ShardLabel(from), err))
	}
	bulk, err := m.shardCopy(ctx, src, su.ID, dst, du.ID, have, l, true, res)
	if err != nil {
		return at(stepBulk, err)
	}

	// Urgent up to the flip: the source's deletion waits for nobody.
	endUrgent, err := m.openWindow(ctx, l, res)
	if err != nil {
		return err
	}
	defer endUrgent()

	if err := m.step(stepDelta); err != nil {
		return at(stepDelta, err)
	}
	// The password may have changed during the bulk copy.
	if su, err = src.LookupUser(ctx, res.User); err != nil {
		return at(stepDelta, fmt.Errorf("loading %q from shard %s again: %w", res.User, syncstore.ShardLabel(from), err))
	}
	last, err := src.UserTimestamp(ctx, su.ID)
	if err != nil {
		return at(stepDelta, fmt.Errorf("reading the last write timestamp on shard %s: %w", syncstore.ShardLabel(from), err))
	}
	delta := bulk
	if last != last0 {
		if delta, err = m.shardCopy(ctx, src, su.ID, dst, du.ID, bulk.digests, nil, false, res); err != nil {
			return at(stepDelta, err)
		}
		res.DeltaWritten, res.DeltaDeleted = int(delta.written), delta.deleted
	}
	if _, err := dst.ImportUser(ctx, accountOf(su), max(last, delta.sum.Newest())); err != nil {
		return at(stepDelta, fmt.Errorf("updating the account on shard %s: %w", syncstore.ShardLabel(to), err))
	}

	if err := m.step(stepVerify); err != nil {
		return at(stepVerify, err)
	}
	if err := m.verifyShard(ctx, src, su, delta.sum, delta.critical, dst, du); err != nil {
		return at(stepVerify, err)
	}

	if err := m.step(stepCache); err != nil {
		return at(stepCache, err)
	}
	if c := m.cacheOf(to); c != nil {
		// The copy kept the records' expiry: the destination's cache must
		// not keep the answers that change when they expire.
		if delta.expiring {
			if err := c.MarkExpiring(ctx, du.ID, delta.criticalExpiring); err != nil {
				return at(stepCache, fmt.Errorf("flagging the user's expiring records in shard %s's memcached: %w", syncstore.ShardLabel(to), err))
			}
		}
		if err := c.InvalidateUser(ctx, du.ID); err != nil {
			return at(stepCache, fmt.Errorf("invalidating the user in shard %s's memcached: %w", syncstore.ShardLabel(to), err))
		}
	}

	if err := m.step(stepFlip); err != nil {
		return at(stepFlip, err)
	}
	// The lease is kept through the deletion of the source copy, so that
	// no other run moves the user back onto it meanwhile.
	if err := l.flipTo(ctx, to, !m.cfg.KeepSource); err != nil {
		return at(stepFlip, err)
	}
	flipped = true
	res.Window = time.Since(res.windowStart)
	endUrgent() // the source's deletion below waits for nobody
	res.Action = ActionMoved
	if m.cfg.KeepSource {
		res.Notes = append(res.Notes, "the copy on shard "+syncstore.ShardLabel(from)+" was kept (--keep-source)")
		return nil
	}
	return m.deleteSource(ctx, res, l, src, su, from, res.windowStart)
}

// deleteSource deletes the user's copy on the source shard under the
// lease l, whose row names the destination, and ends the lease. It waits
// until Config.SourceGrace has passed since since.
func (m *Migrator) deleteSource(ctx context.Context, res *UserResult, l *lease, src ShardStore, su *syncstore.User, from string, since time.Time) error {
	if err := m.step(stepDelete); err != nil {
		if errors.Is(err, errKilled) {
			return at(stepDelete, err)
		}
		return at(stepDelete, m.leftSource(ctx, l, from, err))
	}
	if err := sleep(ctx, time.Until(since.Add(m.cfg.SourceGrace))); err != nil {
		return at(stepDelete, m.leftSource(ctx, l, from, err))
	}
	if err := l.renew(ctx); err != nil {
		return at(stepDelete, err)
	}
	if err := src.DeleteUser(ctx, su.ID); err != nil {
		return at(stepDelete, m.leftSource(ctx, l, from, fmt.Errorf("deleting the copy on shard %s: %w", syncstore.ShardLabel(from), err)))
	}
	if err := l.release(ctx, syncstore.RouteNative, ""); err != nil {
		return at(stepDelete, err)
	}
	return nil
}

// leftSource ends the lease after a move whose source copy could not be
// deleted and says so: the user is served from the destination, and the
// next run deletes the copy.
func (m *Migrator) leftSource(ctx context.Context, l *lease, from string, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err = fmt.Errorf("moved, but the copy on shard %s is still there (run the move again to delete it): %w", syncstore.ShardLabel(from), err)
	if rerr := l.release(cctx, syncstore.RouteNative, err.Error()); rerr != nil {
		m.log.Error("ending the lease failed; it will expire", m.userField(l.cur.Username), zap.Error(rerr))
	}
	return err
}

// finishMove handles a user whose row already names the destination: a
// move that was killed between its flip and the deletion of the source
// copy (or that kept it). Unless KeepSource, a copy still on the source
// is deleted, under a lease, once the destination is known to hold the
// account.
func (m *Migrator) finishMove(ctx context.Context, res *UserResult, cur *syncstore.Route, exists bool, src, dst ShardStore, from, to string) (err error) {
	res.Action = ActionAlreadyMoved
	if m.cfg.KeepSource {
		return nil
	}
	su, err := src.LookupUser(ctx, res.User)
	if errors.Is(err, syncstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return at(stepLookup, fmt.Errorf("loading %q from shard %s: %w", res.User, syncstore.ShardLabel(from), err))
	}
	// The route is the only proof of where the data is; without an
	// account on the destination the source copy is all there is.
	if _, err := dst.LookupUser(ctx, res.User); err != nil {
		return at(stepLookup, fmt.Errorf("%q's route names shard %s, which does not hold the account (%v): the copy on shard %s is kept",
			res.User, syncstore.ShardLabel(to), err, syncstore.ShardLabel(from)))
	}
	if m.cfg.DryRun {
		res.Notes = append(res.Notes, "would delete the copy left on shard "+syncstore.ShardLabel(from)+" by a run stopped after its flip")
		return nil
	}
	l, err := m.acquire(ctx, cur, exists, syncstore.RouteNative)
	if err != nil {
		return at(stepLease, err)
	}
	if err := m.deleteSource(ctx, res, l, src, su, from, time.Time{}); err != nil {
		return err
	}
	res.Notes = append(res.Notes, "deleted the copy left on shard "+syncstore.ShardLabel(from)+" by a run stopped after its flip")
	return nil
}

// dryRunMove reads the source as a move would and compares it with a
// destination copy if there is one; it writes nothing.
func (m *Migrator) dryRunMove(ctx context.Context, res *UserResult, src ShardStore, su *syncstore.User, dst ShardStore) error {
	res.Action = ActionDryRun
	want := NewSummary()
	d := newDigester()
	err := src.ExportRecords(ctx, su.ID, func(c string, r *syncstore.StoredRecord) error {
		want.Add(c, moveDigest(d, c, r))
		if m.cfg.OnCopy != nil {
			m.cfg.OnCopy(1, r.PayloadSize())
		}
		return nil
	})
	if err != nil {
		return at(stepBulk, fmt.Errorf("reading the source copy: %w", err))
	}
	res.Records, res.Bytes = want.Records(), want.Bytes()
	du, err := dst.LookupUser(ctx, su.Name)
	if errors.Is(err, syncstore.ErrNotFound) {
		res.Notes = append(res.Notes, "no copy on the destination yet")
		return nil
	}
	if err != nil {
		return at(stepVerify, err)
	}
	got := NewSummary()
	err = dst.ExportRecords(ctx, du.ID, func(c string, r *syncstore.StoredRecord) error {
		got.Add(c, moveDigest(d, c, r))
		return nil
	})
	if err != nil {
		return at(stepVerify, fmt.Errorf("reading the destination copy: %w", err))
	}
	if diff := want.Compare(got); len(diff) > 0 {
		res.Notes = append(res.Notes, "the destination holds an older copy: "+(&VerifyError{User: su.Name, Mismatches: diff}).Error())
		return nil
	}
	res.Notes = append(res.Notes, "the destination copy is identical")
	return nil
}

// accountOf is the account a move writes to the destination.
func accountOf(u *syncstore.User) syncstore.User {
	return syncstore.User{Name: u.Name, PasswordHash: u.PasswordHash, Email: u.Email}
}
