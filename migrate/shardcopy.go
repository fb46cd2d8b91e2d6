package migrate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"

	"github.com/syncserver/syncserver/syncstore"
)

// The copy of a shard move: native records from one shard's BulkStore to
// another's, compared by digest. Unlike a legacy source, a native one
// stores TTLs, so the digests here cover the expiry too (moveDigest), and
// expired records are copied like any other: the destination must hold
// exactly what the source holds.

// moveDigest is the record digest of digest.go extended with the expiry.
func moveDigest(d *digester, collection string, r *syncstore.StoredRecord) RecordDigest {
	rd := d.full(collection, r)
	var b [sha256.Size + 8]byte
	copy(b[:], rd.Sum[:])
	binary.BigEndian.PutUint64(b[sha256.Size:], uint64(r.Expiry))
	rd.Sum = sha256.Sum256(b[:])
	return rd
}

// shardDigests digests what a shard holds for the user.
func shardDigests(ctx context.Context, s syncstore.BulkStore, uid int64) (digestMap, error) {
	out := digestMap{}
	d := newDigester()
	err := s.ExportRecords(ctx, uid, func(c string, r *syncstore.StoredRecord) error {
		out.put(c, r.ID, moveDigest(d, c, r).Sum)
		return nil
	})
	return out, err
}

// shardCopy makes the destination copy equal to the source as read now:
// it writes the records whose digest differs from what the destination
// holds (have), deletes those the source does not hold, and returns the
// digests and summary of the source as read, with its critical records.
// Batches are written while the source is read: ExportRecords forbids
// writing to the store it reads, and the destination is another database
// (the command refuses two shards on one).
func (m *Migrator) shardCopy(ctx context.Context, src ShardStore, srcID int64, dst syncstore.BulkStore, dstID int64,
	have digestMap, l *lease, bulk bool, res *UserResult) (*shardRead, error) {
	read, sum, critical := digestMap{}, NewSummary(), map[string]*syncstore.StoredRecord{}
	var expiring, criticalExpiring bool
	d := newDigester()
	w := &nativeWriter{m: m, dst: dst, uid: dstID, lease: l, yield: bulk}
	err := src.ExportRecords(ctx, srcID, func(c string, r *syncstore.StoredRecord) error {
		if m.cfg.Limiter != nil {
			if err := m.cfg.Limiter.Wait(ctx); err != nil {
				return err
			}
		}
		rd := moveDigest(d, c, r)
		read.put(c, r.ID, rd.Sum)
		sum.Add(c, rd)
		if isCritical(c, r.ID) {
			critical[c+"/"+r.ID] = r
		}
		if r.Expiry != syncstore.NoExpiry {
			expiring = true
			criticalExpiring = criticalExpiring || isCritical(c, r.ID)
		}
		if old, ok := have[c][r.ID]; ok && old == rd.Sum {
			return nil
		}
		return w.add(ctx, c, r)
	})
	if err != nil {
		return nil, fmt.Errorf("copying from the source: %w", err)
	}
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	res.Written += w.written
	out := &shardRead{digests: read, sum: sum, critical: critical, written: w.written,
		expiring: expiring, criticalExpiring: criticalExpiring}
	if out.deleted, err = deleteAbsent(ctx, dst, dstID, have, read, "the source does not hold"); err != nil {
		return nil, err
	}
	res.Records, res.Bytes = sum.Records(), sum.Bytes()
	return out, nil
}

// shardRead is what one pass of shardCopy read and did.
type shardRead struct {
	digests  digestMap // the source's records by digest
	sum      *Summary
	critical map[string]*syncstore.StoredRecord // meta/global, crypto/keys of the source
	written  int64                              // records written to the destination
	deleted  int                                // records deleted from the destination
	// expiring: some record of the source has an expiry (criticalExpiring:
	// meta/global or crypto/keys), which the copy keeps; the destination's
	// cache must be told (UserCache.MarkExpiring).
	expiring, criticalExpiring bool
}

// verifyShard compares the destination copy with the source as the delta
// read it: per collection counts, newest modified and checksums of every
// record (expiry included), meta/global and crypto/keys byte for byte,
// info/collections of both shards, the credential and the user's last
// write timestamp.
func (m *Migrator) verifyShard(ctx context.Context, src ShardStore, su *syncstore.User, want *Summary, critical map[string]*syncstore.StoredRecord,
	dst ShardStore, du *syncstore.User) error {
	got := NewSummary()
	d := newDigester()
	gotCritical := map[string]*syncstore.StoredRecord{}
	err := dst.ExportRecords(ctx, du.ID, func(c string, r *syncstore.StoredRecord) error {
		got.Add(c, moveDigest(d, c, r))
		if isCritical(c, r.ID) {
			gotCritical[c+"/"+r.ID] = r
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading the destination copy: %w", err)
	}
	mismatches := want.Compare(got)
	for _, cr := range criticalRecords {
		k := cr[0] + "/" + cr[1]
		if msg := compareCritical(cr[0], cr[1], critical[k], gotCritical[k]); msg != "" {
			mismatches = append(mismatches, msg)
		}
	}
	srcTS, err := src.CollectionTimestamps(ctx, su.ID)
	if err != nil {
		return fmt.Errorf("reading the source's info/collections: %w", err)
	}
	dstTS, err := dst.CollectionTimestamps(ctx, du.ID)
	if err != nil {
		return fmt.Errorf("reading the destination's info/collections: %w", err)
	}
	if !maps.Equal(srcTS, dstTS) {
		mismatches = append(mismatches, fmt.Sprintf("info/collections differ: source %v, destination %v", srcTS, dstTS))
	}
	mismatches = append(mismatches, want.CompareTimestamps(dstTS)...)
	nu, err := dst.LookupUser(ctx, su.Name)
	if err != nil {
		return fmt.Errorf("reading the destination's user: %w", err)
	}
	if nu.PasswordHash != su.PasswordHash {
		mismatches = append(mismatches, "password hash differs")
	}
	if nu.Email != su.Email {
		mismatches = append(mismatches, "e-mail differs")
	}
	srcLast, err := src.UserTimestamp(ctx, su.ID)
	if err != nil {
		return fmt.Errorf("reading the source's last write timestamp: %w", err)
	}
	dstLast, err := dst.UserTimestamp(ctx, du.ID)
	if err != nil {
		return fmt.Errorf("reading the destination's last write timestamp: %w", err)
	}
	if dstLast < srcLast {
		mismatches = append(mismatches, fmt.Sprintf("last write timestamp %s on the destination, %s on the source", dstLast, srcLast))
	}
	if len(mismatches) > 0 {
		return &VerifyError{User: su.Name, Mismatches: mismatches}
	}
	return nil
}
