package migrate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

const (
	stepExport = "copy to legacy"
)

// RollbackUser moves a native user back to the legacy database: lease,
// the 503 window as a migration opens it (openWindow: migrating, the
// drain for native writes already in flight), then the legacy tables of
// the user are replaced by the native records (unexpired ones; legacy has
// no TTL) in one transaction, verified, and the route set to legacy. The
// whole copy happens while the user is unavailable: the native store is
// authoritative until the flip. The native copy is kept on the shard the
// row keeps naming (a later migration elsewhere deletes it:
// deleteLeftCopy). Any failure puts the route back to native.
//
// The native password hash is written back only if the legacy server can
// verify it (FSyncMS: md5 hex or $2a$ bcrypt; Mozilla PHP: {SSHA-256} or
// md5 hex); otherwise the legacy hash stays and a note says so.
func (m *Migrator) RollbackUser(ctx context.Context, name string) (*UserResult, error) {
	start := time.Now()
	res := &UserResult{User: syncstore.NormalizeUsername(name)}
	err := m.rollbackUser(ctx, name, res)
	finish(res, start, time.Now(), err)
	if err != nil {
		m.log.Error("rollback failed", m.userField(res.User), zap.String("step", res.Step), zap.Error(err))
	} else {
		m.log.Info("user done", m.userField(res.User), zap.String("action", string(res.Action)), zap.Int64("records", res.Records),
			zap.Duration("window", res.Window))
	}
	return res, err
}

func (m *Migrator) rollbackUser(ctx context.Context, name string, res *UserResult) (err error) {
	if m.cfg.Legacy == nil {
		return at(stepLookup, errNoLegacy)
	}
	if m.cfg.DryRun {
		return at(stepLease, errors.New("rollback has no dry run"))
	}
	cur, exists, err := m.currentRoute(ctx, res.User)
	if err != nil {
		return at(stepLease, err)
	}
	if cur.Effective(m.now()) == syncstore.RouteLegacy && !cur.LeaseHeld(m.now()) {
		res.Action = ActionAlreadyLegacy
		if cur.Owner != "" {
			// Clear the dead owner's leftovers.
			if l, err := m.acquire(ctx, cur, exists, syncstore.RouteNative); err == nil {
				return at(stepLease, l.release(ctx, syncstore.RouteLegacy, cur.LastError))
			}
		}
		return nil
	}
	// The native data is on the user's shard.
	if m, err = m.onShard(cur.Shard); err != nil {
		return at(stepLookup, fmt.Errorf("user %q: %w", res.User, err))
	}
	nu, err := m.cfg.Native.LookupUser(ctx, res.User)
	if err != nil {
		return at(stepLookup, fmt.Errorf("loading native user %q: %w", res.User, err))
	}
	lu, err := m.cfg.Legacy.LookupUser(ctx, res.User)
	if errors.Is(err, ErrUnknownUser) {
		// Registered natively: the legacy server has never seen the user.
		lu = &LegacyUser{Name: res.User, PasswordHash: nu.PasswordHash}
		if nu.Email != "" {
			e := nu.Email
			lu.Email = &e
		}
		if m.cfg.Legacy.Schema().Variant == VariantMozilla {
			one := int64(1)
			lu.Status = &one
		}
	} else if err != nil {
		return at(stepLookup, err)
	} else if lu.collectionsErr != nil {
		return at(stepLookup, lu.collectionsErr)
	}
	switch v := m.cfg.Legacy.Schema().Variant; {
	case legacyVerifiable(v, nu.PasswordHash, lu.PasswordHash):
		lu.PasswordHash = nu.PasswordHash
	case nu.PasswordHash == lu.PasswordHash:
	case v == VariantFSyncMS && isMD5Hex(lu.PasswordHash):
		res.Notes = append(res.Notes, "the native password hash is bcrypt, which an FSyncMS with BCRYPT off cannot verify; the legacy MD5 hash was kept (a password changed while native is not carried back)")
	default:
		res.Notes = append(res.Notes, "the native password hash is in a format the legacy server cannot verify; the legacy hash was kept")
	}

	l, err := m.acquire(ctx, cur, exists, syncstore.RouteNative)
	if err != nil {
		return at(stepLease, err)
	}
	defer func() {
		if err == nil || errors.Is(err, errKilled) {
			return
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rerr := l.release(cctx, syncstore.RouteNative, "rollback: "+err.Error()); rerr != nil {
			m.log.Error("putting the route back to native failed; the lease will expire", m.userField(res.User), zap.Error(rerr))
		}
		if !res.windowStart.IsZero() {
			res.Window = time.Since(res.windowStart)
		}
	}()
	endUrgent, err := m.openWindow(ctx, l, res)
	if err != nil {
		return err
	}
	defer endUrgent()

	if err := m.step(stepExport); err != nil {
		return at(stepExport, err)
	}
	want := NewSummary()
	critical := map[string]*syncstore.StoredRecord{}
	d := newDigester()
	nowUnix := m.now().Unix()
	cc := collectionCase{}
	s := m.cfg.Legacy.Schema()
	err = m.cfg.Legacy.ReplaceUser(ctx, lu, func(emit func(string, *syncstore.StoredRecord) error) error {
		return m.cfg.Native.ExportRecords(ctx, nu.ID, func(c string, r *syncstore.StoredRecord) error {
			if r.Expired(nowUnix) {
				return nil
			}
			if err := cc.check(s, c, r.ID); err != nil {
				return fmt.Errorf("the legacy tables cannot hold this user's collections as they are: %w", err)
			}
			want.Add(c, d.full(c, r))
			if isCritical(c, r.ID) {
				critical[c+"/"+r.ID] = r
			}
			if m.cfg.OnCopy != nil {
				m.cfg.OnCopy(1, r.PayloadSize())
			}
			res.Written++
			return emit(c, r)
		})
	})
	if err != nil {
		return at(stepExport, err)
	}
	res.Records, res.Bytes = want.Records(), want.Bytes()

	if err := m.step(stepVerify); err != nil {
		return at(stepVerify, err)
	}
	if err := m.verifyLegacy(ctx, lu, want, critical); err != nil {
		return at(stepVerify, err)
	}

	if err := m.step(stepFlip); err != nil {
		return at(stepFlip, err)
	}
	if err := l.release(ctx, syncstore.RouteLegacy, ""); err != nil {
		return at(stepFlip, err)
	}
	res.Window = time.Since(res.windowStart)
	res.Action = ActionRolledBack
	return nil
}

// verifyLegacy re-reads what the rollback wrote.
func (m *Migrator) verifyLegacy(ctx context.Context, lu *LegacyUser, want *Summary, critical map[string]*syncstore.StoredRecord) error {
	lu2, err := m.cfg.Legacy.LookupUser(ctx, lu.Name)
	if err != nil {
		return err
	}
	got := NewSummary()
	if err := m.cfg.Legacy.Digests(ctx, lu2, func(c string, rd RecordDigest) error {
		got.Add(c, rd)
		return nil
	}); err != nil {
		return err
	}
	mismatches := want.Compare(got)
	for _, cr := range criticalRecords {
		var legacy *syncstore.StoredRecord
		if err := m.cfg.Legacy.RecordsByID(ctx, lu2, cr[0], []string{cr[1]}, func(_ string, r *syncstore.StoredRecord) error {
			legacy = r
			return nil
		}); err != nil {
			return err
		}
		if msg := compareCritical(cr[0], cr[1], critical[cr[0]+"/"+cr[1]], legacy); msg != "" {
			mismatches = append(mismatches, msg)
		}
	}
	if lu2.PasswordHash != lu.PasswordHash {
		mismatches = append(mismatches, "password hash differs")
	}
	if len(mismatches) > 0 {
		return &VerifyError{User: lu.NativeName(), Mismatches: mismatches}
	}
	return nil
}

// legacyVerifiable reports whether the legacy server of variant v can
// check a password against hash (docs/legacy.md §1.3, §2.1), given the
// hash its row holds now (for a user it never had: hash itself).
func legacyVerifiable(v Variant, hash, legacyHash string) bool {
	if isMD5Hex(hash) {
		return true
	}
	switch v {
	case VariantFSyncMS:
		// FSyncMS treats only "$2a$" as bcrypt (Go's bcrypt writes $2a$),
		// and only with BCRYPT on: an install with it off checks MD5 and
		// nothing else. The database does not say which; a bcrypt hash in
		// the user's row does (the server wrote it), an MD5 one may mean
		// either, so it is kept.
		return strings.HasPrefix(hash, "$2a$") && len(hash) == 60 && strings.HasPrefix(legacyHash, "$2a$")
	case VariantMozilla:
		return strings.HasPrefix(hash, "{SSHA-256}")
	}
	return false
}

func isMD5Hex(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
