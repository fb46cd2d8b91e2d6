package migrate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/syncserver/syncserver/syncstore"
)

// digestMap is a user's records by collection and id.
type digestMap map[string]map[string]Digest

func (d digestMap) put(collection, id string, sum Digest) {
	c := d[collection]
	if c == nil {
		c = map[string]Digest{}
		d[collection] = c
	}
	c[id] = sum
}

// bulkRow is what the bulk copy keeps of each legacy record it read: its
// digest, for the verification's summary, and its fingerprint, to find
// it changed or not in the delta scan.
type bulkRow struct {
	digest RecordDigest
	check  fingerprint
	seen   bool // found again by the delta scan
}

// bulkMap is the bulk copy's rows by collection and id.
type bulkMap map[string]map[string]bulkRow

func (b bulkMap) put(collection string, row bulkRow) {
	c := b[collection]
	if c == nil {
		c = map[string]bulkRow{}
		b[collection] = c
	}
	c[row.digest.ID] = row
}

// Limits of one native write (ReplaceRecords: one transaction). On SQLite
// every write, the route swaps of users in their 503 window included,
// queues behind the transactions already waiting for the single writer
// connection, so a batch is kept to what SQLite writes in tens of
// milliseconds; larger batches saved MariaDB little (a 6,000-record user
// in one transaction per collection cost its CPU about as much). 1,024
// rows are whole statements on both backends (MaxRows 128 and 512), which
// InsertRecords' plain INSERTs, unlike padded upserts, need to be few.
const (
	nativeBatchRows  = 1024
	nativeBatchBytes = 4 << 20
)

// nativeWriter batches records per collection into ReplaceRecords calls
// on a native store: the legacy copy's, and a shard move's destination.
type nativeWriter struct {
	m   *Migrator
	dst syncstore.BulkStore
	uid int64
	// lease, when set, is renewed after each batch.
	lease *lease
	// yield: a bulk copy's batches yield to users in their 503 window
	// (urgency.go); a window's own writes do not wait.
	yield bool
	coll  string
	recs  []syncstore.StoredRecord
	// fresh: the native store held none of recs when the copy began
	// (bulkCopy's nativeDigests), so they go in with InsertRecords.
	fresh   bool
	bytes   int64
	written int64
}

func (w *nativeWriter) add(ctx context.Context, collection string, r *syncstore.StoredRecord) error {
	if collection != w.coll || len(w.recs) >= nativeBatchRows || w.bytes >= nativeBatchBytes {
		if err := w.flush(ctx); err != nil {
			return err
		}
		w.coll = collection
	}
	w.recs = append(w.recs, *r)
	w.bytes += r.PayloadSize() + int64(len(r.ID))
	return nil
}

func (w *nativeWriter) flush(ctx context.Context) error {
	if len(w.recs) == 0 {
		return nil
	}
	// In the native key's order (ids compare as bytes on both backends;
	// legacy returns them in its collation's order): each row then lands
	// after the previous one in the b-trees, which fill their pages
	// instead of splitting them half-full (about a fifth less of
	// MariaDB's insert CPU, measured on 10.11).
	slices.SortFunc(w.recs, func(a, b syncstore.StoredRecord) int { return strings.Compare(a.ID, b.ID) })
	release := func() {}
	if w.yield {
		var err error
		if release, err = w.m.urgent.yield(ctx); err != nil {
			return err
		}
	}
	err := w.write(ctx)
	release()
	if err != nil {
		return fmt.Errorf("writing %d records of %q to the native store: %w", len(w.recs), w.coll, err)
	}
	w.written += int64(len(w.recs))
	if w.m.cfg.OnCopy != nil {
		w.m.cfg.OnCopy(int64(len(w.recs)), w.bytes)
	}
	clear(w.recs)
	w.recs = w.recs[:0]
	w.bytes = 0
	if w.lease != nil {
		return w.lease.renew(ctx)
	}
	return nil
}

// write stores the batch: records new to the native store with plain
// inserts, others replacing what it holds. Should a new record be there
// after all (another writer than this lease's holder), the insert wrote
// nothing and the batch is written again as replacements.
func (w *nativeWriter) write(ctx context.Context) error {
	if w.fresh {
		err := w.dst.InsertRecords(ctx, w.uid, w.coll, w.recs)
		if !errors.Is(err, syncstore.ErrRecordExists) {
			return err
		}
	}
	return w.dst.ReplaceRecords(ctx, w.uid, w.coll, w.recs)
}

// expiringDigest stands for a native record that has an expiry: the
// digest leaves expiry out (legacy records have none), so such a record
// would otherwise compare equal to its legacy row and keep an expiry the
// legacy server never had. No record's SHA-256 is all zeros.
var expiringDigest Digest

// nativeDigests digests what the native store holds for the user
// (expired records included: a copy overwrites them like any other). A
// record with an expiry (a native write with a TTL, gone back to legacy
// by a rollback) never matches, so the copy rewrites it without one:
// imported records never expire (docs/legacy.md §5).
func (m *Migrator) nativeDigests(ctx context.Context, uid int64) (digestMap, error) {
	out := digestMap{}
	d := newDigester()
	err := m.cfg.Native.ExportRecords(ctx, uid, func(c string, r *syncstore.StoredRecord) error {
		if r.Expiry != syncstore.NoExpiry {
			out.put(c, r.ID, expiringDigest)
			return nil
		}
		out.put(c, r.ID, d.full(c, r).Sum)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the native copy: %w", err)
	}
	return out, nil
}

// bulkCopy makes the native copy equal to the legacy records as read
// now, writing only records that differ from what the native store
// already holds (a retry after a failure rewrites little), and returns
// the digests of what it read. The user keeps being served by legacy.
// Reading the legacy rows and writing native batches overlap: a writer
// goroutine takes the batches the reader fills.
func (m *Migrator) bulkCopy(ctx context.Context, lu *LegacyUser, uid int64, l *lease, res *UserResult) (bulkMap, error) {
	have, err := m.nativeDigests(ctx, uid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type batch struct {
		coll  string
		recs  []syncstore.StoredRecord
		fresh bool // none of recs is in have
	}
	batches := make(chan batch, 2)
	var written int64
	writerDone := make(chan error, 1)
	go func() {
		w := &nativeWriter{m: m, dst: m.cfg.Native, uid: uid, lease: l, yield: true}
		var err error
		for b := range batches {
			if err != nil {
				continue // drain so the reader never blocks
			}
			w.coll, w.recs, w.fresh = b.coll, b.recs, b.fresh
			w.bytes = 0
			for i := range b.recs {
				w.bytes += b.recs[i].PayloadSize() + int64(len(b.recs[i].ID))
			}
			if err = w.flush(ctx); err != nil {
				cancel(err)
			}
		}
		written = w.written
		writerDone <- err
	}()

	read := bulkMap{}
	d := newDigester()
	s := m.cfg.Legacy.Schema()
	pending := 0
	var cur batch
	var curBytes int64
	send := func() error {
		if len(cur.recs) == 0 {
			return nil
		}
		select {
		case batches <- cur:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		cur = batch{}
		curBytes = 0
		return nil
	}
	cc := legacyCase(s)
	err = m.cfg.Legacy.Records(ctx, lu, func(c string, r *syncstore.StoredRecord) error {
		if err := cc.check(s, c, r.ID); err != nil {
			return err
		}
		if err := checkImportable(s, c, r); err != nil {
			return err
		}
		if m.cfg.Limiter != nil {
			if pending++; pending == 100 {
				pending = 0
				if err := m.cfg.Limiter.WaitN(ctx, 100); err != nil {
					return err
				}
			}
		}
		rd := d.full(c, r)
		read.put(c, bulkRow{digest: rd, check: recordFingerprint(r)})
		res.Records++
		res.Bytes += rd.Size
		old, held := have[c][r.ID]
		if held && old == rd.Sum {
			return nil
		}
		if c != cur.coll || len(cur.recs) >= nativeBatchRows || curBytes >= nativeBatchBytes {
			if err := send(); err != nil {
				return err
			}
			cur.coll, cur.fresh = c, true
		}
		cur.fresh = cur.fresh && !held
		cur.recs = append(cur.recs, *r)
		curBytes += rd.Size + int64(len(r.ID))
		return nil
	})
	if err == nil {
		err = send()
	}
	close(batches)
	werr := <-writerDone
	res.Written += written
	if werr != nil {
		return nil, werr
	}
	if err != nil {
		return nil, err
	}
	// Records of an earlier attempt that legacy no longer holds.
	if _, err := deleteAbsent(ctx, m.cfg.Native, uid, have, read, "legacy no longer holds"); err != nil {
		return nil, err
	}
	return read, nil
}

// deltaCopy brings the native copy from the state of the bulk copy to
// the legacy state now, and returns the legacy summary for verification.
// It runs while the user is unavailable, so it reads as little as it can:
// one scan of the legacy rows' fingerprints (fingerprint.go), which finds
// new and changed records, metadata-only updates that kept their modified
// included, and deletions by comparing id sets; only the records found
// changed are read in full. The summary takes the bulk copy's digests for
// the records that did not change and digests of the records read again
// for the others.
func (m *Migrator) deltaCopy(ctx context.Context, lu *LegacyUser, uid int64, bulk bulkMap, res *UserResult) (*Summary, error) {
	sum := NewSummary()
	changed := map[string][]string{}
	s := m.cfg.Legacy.Schema()
	cc := legacyCase(s)
	err := m.cfg.Legacy.fingerprints(ctx, lu, func(c, id string, fp fingerprint) error {
		if err := cc.check(s, c, id); err != nil {
			return err
		}
		rows := bulk[c]
		if b, ok := rows[id]; ok {
			b.seen = true
			rows[id] = b
			if b.check == fp {
				sum.Add(c, b.digest)
				return nil
			}
		}
		changed[c] = append(changed[c], id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	w := &nativeWriter{m: m, dst: m.cfg.Native, uid: uid}
	d := newDigester()
	for c, ids := range changed {
		err := m.cfg.Legacy.RecordsByID(ctx, lu, c, ids, func(c string, r *syncstore.StoredRecord) error {
			if err := checkImportable(s, c, r); err != nil {
				return err
			}
			sum.Add(c, d.full(c, r))
			res.DeltaWritten++
			return w.add(ctx, c, r)
		})
		if err != nil {
			return nil, err
		}
	}
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	res.Written += w.written
	for c, rows := range bulk {
		var gone []string
		for id, b := range rows {
			if !b.seen {
				gone = append(gone, id)
			}
		}
		if len(gone) > 0 {
			if err := m.cfg.Native.DeleteRecordIDs(ctx, uid, c, gone); err != nil {
				return nil, fmt.Errorf("deleting %d records of %q removed during the bulk copy: %w", len(gone), c, err)
			}
			res.DeltaDeleted += len(gone)
		}
	}
	res.Records, res.Bytes = sum.Records(), sum.Bytes()
	return sum, nil
}

// verifyNative compares the native copy with the legacy summary, the
// critical records byte for byte, the collection timestamps clients will
// see and the credential. The small reads (the critical records from
// legacy, the timestamps, the native user) run beside the export: the
// user is unavailable meanwhile, and each is a round trip that would
// otherwise wait for the export to end.
func (m *Migrator) verifyNative(ctx context.Context, lu *LegacyUser, uid int64, want *Summary) error {
	var (
		legacyCritical = map[string]*syncstore.StoredRecord{}
		ts             map[string]syncstore.Timestamp
		nu             *syncstore.User
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		for _, cr := range criticalRecords {
			err := m.cfg.Legacy.RecordsByID(gctx, lu, cr[0], []string{cr[1]}, func(_ string, r *syncstore.StoredRecord) error {
				legacyCritical[cr[0]+"/"+cr[1]] = r
				return nil
			})
			if err != nil {
				return err
			}
		}
		var err error
		if ts, err = m.cfg.Native.CollectionTimestamps(gctx, uid); err != nil {
			return fmt.Errorf("reading native collection timestamps: %w", err)
		}
		if nu, err = m.cfg.Native.LookupUser(gctx, lu.NativeName()); err != nil {
			return fmt.Errorf("reading the native user: %w", err)
		}
		return nil
	})
	got := NewSummary()
	d := newDigester()
	critical := map[string]*syncstore.StoredRecord{}
	// The digests leave expiry out: a copied record that expires (the
	// legacy one never does, docs/legacy.md §5) is listed apart.
	var expiring []string
	g.Go(func() error {
		err := m.cfg.Native.ExportRecords(gctx, uid, func(c string, r *syncstore.StoredRecord) error {
			got.Add(c, d.full(c, r))
			if r.Expiry != syncstore.NoExpiry {
				expiring = append(expiring, fmt.Sprintf("%s/%s: expires at %d in the copy, never in the source", c, r.ID, r.Expiry))
			}
			if isCritical(c, r.ID) {
				critical[c+"/"+r.ID] = r
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading the native copy: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	mismatches := append(want.Compare(got), expiring...)
	for _, cr := range criticalRecords {
		key := cr[0] + "/" + cr[1]
		if msg := compareCritical(cr[0], cr[1], legacyCritical[key], critical[key]); msg != "" {
			mismatches = append(mismatches, msg)
		}
	}
	mismatches = append(mismatches, want.CompareTimestamps(ts)...)
	if nu.PasswordHash != lu.PasswordHash {
		mismatches = append(mismatches, "password hash differs")
	}
	if len(mismatches) > 0 {
		return &VerifyError{User: lu.NativeName(), Mismatches: mismatches}
	}
	return nil
}

func nativeUser(lu *LegacyUser) syncstore.User {
	u := syncstore.User{Name: lu.NativeName(), PasswordHash: lu.PasswordHash}
	if lu.Email != nil {
		u.Email = *lu.Email
	}
	return u
}

// deleteAbsent deletes from the copy dst holds of user uid the records it
// held before this copy (have) that the source, as just read, does not
// hold, and returns how many went; why names them in an error.
func deleteAbsent[V any](ctx context.Context, dst syncstore.BulkStore, uid int64, have digestMap, read map[string]map[string]V, why string) (int, error) {
	deleted := 0
	for c, ids := range have {
		var gone []string
		for id := range ids {
			if _, ok := read[c][id]; !ok {
				gone = append(gone, id)
			}
		}
		if len(gone) > 0 {
			if err := dst.DeleteRecordIDs(ctx, uid, c, gone); err != nil {
				return deleted, fmt.Errorf("deleting %d records of %q %s: %w", len(gone), c, why, err)
			}
			deleted += len(gone)
		}
	}
	return deleted, nil
}
