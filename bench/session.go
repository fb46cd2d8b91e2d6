package bench

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// stepControl bounds a step in time and in requests.
type stepControl struct {
	rec      *recorder
	deadline time.Time
	budget   atomic.Int64
}

func newStepControl(rec *recorder, deadline time.Time, maxRequests int64) *stepControl {
	s := &stepControl{rec: rec, deadline: deadline}
	s.budget.Store(maxRequests)
	return s
}

// take reserves one request; false once the step is over.
func (s *stepControl) take() bool {
	if !time.Now().Before(s.deadline) {
		return false
	}
	return s.budget.Add(-1) >= 0
}

func (s *stepControl) over() bool {
	return !time.Now().Before(s.deadline) || s.budget.Load() <= 0
}

// errCut ends a session that its step's bounds stopped.
var errCut = errors.New("step bounds reached")

// worker runs sessions one after another with its own generator and
// buffers.
type worker struct {
	run   *targetRun
	step  *stepControl
	r     *rand.Rand
	buf   bytes.Buffer
	batch batchBuilder
	ids   map[string]batchRecord // the current batch
	seen  map[string]struct{}
}

// batchRecord is what a worker remembers of a record it is uploading.
type batchRecord struct {
	sum   uint64 // payload checksum
	fresh bool   // a new record, not an update of a seeded one
}

func newWorker(run *targetRun, step *stepControl, r *rand.Rand) *worker {
	return &worker{run: run, step: step, r: r, ids: make(map[string]batchRecord), seen: make(map[string]struct{})}
}

// call sends one request within the step's bounds. check judges the answer
// and may update the bench's knowledge; call records the request under ep
// with check's verdict.
func (w *worker) call(ctx context.Context, ep endpoint, method, url string, u *identity, body []byte, hdrs []header, check func(*response) *failure) error {
	if !w.step.take() {
		return errCut
	}
	resp := w.run.client.do(ctx, method, url, u, body, hdrs, &w.buf)
	if resp.err != nil && ctx.Err() != nil {
		return errCut // interrupted by the operator, not the server's fault
	}
	resp.legacy = w.run.target.Legacy
	f := check(&resp)
	w.step.rec.request(ep, resp.done, resp.latency, f, resp.quirks)
	if f != nil {
		return f
	}
	return nil
}

// session runs one client session against a user of pop.
func (w *worker) session(ctx context.Context, pop *population) sessionOutcome {
	plan := w.run.mix.plan(w.r, w.run.devices)
	u := pop.acquire(w.r)
	defer u.mu.Unlock()
	err := w.sync(ctx, u, &plan)
	switch {
	case err == nil:
		return sessionOK
	case errors.Is(err, errCut):
		return sessionCut
	default:
		return sessionFailed
	}
}

var acceptNewlines = []header{{"Accept", "application/newlines"}}

// sync is one sync of one device, in the order a Sync 1.1 client goes:
// node, info/collections, meta/global, crypto/keys, downloads, uploads,
// deletes. It stops at the first wrong answer, as a client aborts its sync.
func (w *worker) sync(ctx context.Context, u *userState, plan *sessionPlan) error {
	c := w.run.client
	id := &u.id
	dev := u.devices[plan.device]
	if plan.nodeWeave {
		if err := w.call(ctx, epNodeWeave, http.MethodGet, c.userURL(id, "/node/weave"), id, nil, nil, checkNodeURL); err != nil {
			return err
		}
	}
	var info map[string]int64
	err := w.call(ctx, epInfoCollections, http.MethodGet, c.storageURL(id, "info/collections"), id, nil, nil, func(r *response) *failure {
		var f *failure
		if info, f = parseInfoCollections(r); f != nil {
			return f
		}
		return checkInfoAgainst(u, info)
	})
	if err != nil {
		return err
	}
	// A device seen for the first time is up to date with the server.
	for _, name := range w.run.mix.Collections {
		if _, ok := dev[name]; !ok {
			dev[name] = info[name]
		}
	}
	if plan.idle {
		return nil
	}
	if plan.metaGlobal {
		if err := w.call(ctx, epMetaGlobal, http.MethodGet, c.storageURL(id, "storage/meta/global"), id, nil, nil, func(r *response) *failure {
			return checkSingleWBO(r, "global")
		}); err != nil {
			return err
		}
	}
	if plan.cryptoKeys {
		if err := w.call(ctx, epCryptoKeys, http.MethodGet, c.storageURL(id, "storage/crypto/keys"), id, nil, nil, func(r *response) *failure {
			return checkSingleWBO(r, "keys")
		}); err != nil {
			return err
		}
	}
	for _, name := range plan.gets {
		if err := w.getNewer(ctx, u, dev, name); err != nil {
			return err
		}
	}
	for _, p := range plan.posts {
		if err := w.post(ctx, u, dev, info, p); err != nil {
			return err
		}
	}
	// What the uploads added beyond a collection's size expires (see
	// liveSet), then the user's own deletes.
	for _, p := range plan.posts {
		if nums := u.live(p.collection).expire(w.r); nums != nil {
			if err := w.deleteIDs(ctx, u, p.collection, nums); err != nil {
				return err
			}
		}
	}
	for _, name := range plan.deletes {
		if nums := u.live(name).deleteSome(w.r); nums != nil {
			if err := w.deleteIDs(ctx, u, name, nums); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkInfoAgainst compares info/collections with the collections this
// run wrote: each must show exactly the timestamp of our last write (a
// stale cache or a lost write shows here).
func checkInfoAgainst(u *userState, info map[string]int64) *failure {
	for name, cs := range u.colls {
		if cs.unsure || cs.newest == 0 {
			continue
		}
		got, ok := info[name]
		if !ok {
			return fail(kindStaleInfo, "%s missing, last written at %s", name, formatTS(cs.newest))
		}
		if got != cs.newest {
			return fail(kindStaleInfo, "%s at %s, last written at %s", name, formatTS(got), formatTS(cs.newest))
		}
	}
	return nil
}

// getNewer downloads what changed in a collection since the device's last
// sync and checks it is exactly what was written since then.
func (w *worker) getNewer(ctx context.Context, u *userState, dev map[string]int64, name string) error {
	since := dev[name]
	url := w.run.client.storageURL(&u.id, "storage/"+name+"?full=1&newer="+formatTS(since))
	return w.call(ctx, epGetNewer, http.MethodGet, url, &u.id, nil, acceptNewlines, func(r *response) *failure {
		if _, f := checkBasics(r, 200, "application/newlines"); f != nil {
			return f
		}
		cs := u.colls[name]
		exact := cs == nil || !cs.unsure
		clear(w.seen)
		newest := since
		n, f := parseNewlines(r, func(rec wireWBO, modified int64) *failure {
			if modified <= since {
				return fail(kindNewer, "%s/%s modified %s, newer=%s", name, rec.ID, formatTS(modified), formatTS(since))
			}
			if _, dup := w.seen[rec.ID]; dup {
				return fail(kindBadShape, "%s/%s returned twice", name, rec.ID)
			}
			w.seen[rec.ID] = struct{}{}
			newest = max(newest, modified)
			if !exact {
				return nil
			}
			var want writtenRecord
			ok := false
			if cs != nil {
				want, ok = cs.written[rec.ID]
			}
			if !ok || want.modified <= since {
				return fail(kindUnexpected, "%s/%s modified %s was not written after %s", name, rec.ID, formatTS(modified), formatTS(since))
			}
			if want.modified != modified || want.sum != checksum(*rec.Payload) {
				return fail(kindRecordMismatch, "%s/%s: modified %s, written at %s (or payload differs)", name, rec.ID, formatTS(modified), formatTS(want.modified))
			}
			return nil
		})
		if f != nil {
			return f
		}
		if f := checkRecordsHeader(r, n, n == 0); f != nil {
			return f
		}
		if exact && cs != nil {
			for id, want := range cs.written {
				if _, ok := w.seen[id]; !ok && want.modified > since {
					return fail(kindMissing, "%s/%s written at %s not returned for newer=%s", name, id, formatTS(want.modified), formatTS(since))
				}
			}
		}
		dev[name] = newest
		return nil
	})
}

// post uploads one batch: new records and updates of existing ones, with
// X-If-Unmodified-Since set to the collection's current timestamp when the
// plan says so (the precondition holds: the session owns the user).
func (w *worker) post(ctx context.Context, u *userState, dev, info map[string]int64, p postPlan) error {
	name := p.collection
	cs := u.coll(name)
	w.batch.reset()
	clear(w.ids)
	u.live(name).upload(w.r, p.records, w.run.mix.Update, func(num int32, fresh bool) {
		id := u.recordID(name, num)
		w.batch.add(w.r, id, payloadSize(w.r))
		last := w.batch.records[len(w.batch.records)-1]
		w.ids[id] = batchRecord{sum: last.sum, fresh: fresh}
	})
	body := w.batch.finish()
	var hdrs []header
	if p.ifUnmodified {
		hdrs = []header{{"X-If-Unmodified-Since", formatTS(info[name])}}
	}
	url := w.run.client.storageURL(&u.id, "storage/"+name)
	return w.call(ctx, epPost, http.MethodPost, url, &u.id, body, hdrs, func(r *response) *failure {
		res, ts, _, f := parsePost(r)
		if f != nil {
			// Without a readable answer nobody knows what was written.
			if r.err != nil || r.status >= 500 || r.status == 200 {
				cs.unsure = true
			}
			return f
		}
		// Remember what the server says it stored before judging the
		// answer further, so one wrong answer does not cascade.
		stored, created := 0, int64(0)
		for _, id := range res.Success {
			if rec, ok := w.ids[id]; ok {
				cs.written[id] = writtenRecord{modified: ts, sum: rec.sum}
				stored++
				if rec.fresh {
					created++
				}
			}
		}
		w.run.created.Add(created)
		if stored > 0 {
			cs.newest = ts
			info[name] = ts
			dev[name] = ts
		}
		prev := u.lastSeen
		u.lastSeen = max(u.lastSeen, ts)
		if f := sameTimestampText(r, res.Modified); f != nil {
			return f
		}
		if f := checkIncreasing(r, "POST "+name, ts, prev); f != nil {
			return f
		}
		if len(res.Failed) != 0 || len(res.Success) != len(w.ids) || stored != len(w.ids) {
			return fail(kindPostFailed, "sent %d, success %d, failed %d", len(w.ids), len(res.Success), len(res.Failed))
		}
		return nil
	})
}

// deleteIDs deletes records by id, as Firefox does (in chunks of ids).
func (w *worker) deleteIDs(ctx context.Context, u *userState, name string, nums []int32) error {
	cs := u.coll(name)
	ids := make([]string, len(nums))
	for i, num := range nums {
		ids[i] = u.recordID(name, num)
	}
	url := w.run.client.storageURL(&u.id, "storage/"+name+"?ids="+strings.Join(ids, ","))
	return w.call(ctx, epDelete, http.MethodDelete, url, &u.id, nil, nil, func(r *response) *failure {
		ts, f := checkBasics(r, 200, "application/json")
		if f != nil {
			if r.err != nil || r.status >= 500 || r.status == 200 {
				cs.unsure = true
			}
			return f
		}
		for _, id := range ids {
			delete(cs.written, id)
		}
		w.run.removed.Add(int64(len(ids)))
		cs.newest = 0 // a delete may move the collection's timestamp back
		prev := u.lastSeen
		u.lastSeen = max(u.lastSeen, ts)
		if f := sameTimestampText(r, r.body); f != nil {
			return f
		}
		if f := checkIncreasing(r, "DELETE "+name, ts, prev); f != nil {
			return f
		}
		return nil
	})
}
