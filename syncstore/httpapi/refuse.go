package httpapi

import (
	"net/http"

	"github.com/syncserver/syncserver/syncstore"
)

// writeCheck is a reason the Reference refuses a write whatever its body
// holds.
type writeCheck uint8

const (
	checkQuota      writeCheck = iota // 400 body 14
	checkUnmodified                   // X-If-Unmodified-Since: 412 body 4
)

// refuseWrite runs checks in order for a write that is not going to reach
// the store (its body is bad, or nothing in it was accepted), so that the
// answer is the one the Reference gives (docs/protocol.md §6.7, §6.8): it
// checks quota and X-If-Unmodified-Since before, or for a batch's quota
// after, it looks at the records. Writes that do reach the store get the
// same checks inside its transaction. refuseWrite reports whether it has
// answered the request.
func (h *Handler) refuseWrite(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, opt syncstore.WriteOptions, checks ...writeCheck) bool {
	for _, c := range checks {
		switch c {
		case checkQuota:
			if _, answered := h.refuseOverQuota(w, r, rt, u); answered {
				return true
			}
		case checkUnmodified:
			if opt.IfUnmodifiedSince == nil {
				continue
			}
			stamps, err := h.store.CollectionTimestamps(r.Context(), u.ID)
			if err != nil {
				h.storeFailed(w, r, rt, err)
				return true
			}
			// A collection without records never fails the check.
			if ts, ok := stamps[rt.collection]; ok && ts > *opt.IfUnmodifiedSince {
				sendWeaveError(w, http.StatusPreconditionFailed, errInvalidWrite)
				return true
			}
		}
	}
	return false
}

// refuseOverQuota answers 400 body 14 when the user's unexpired payload
// bytes reached the quota, or 503 when they cannot be read, and reports
// whether it answered; used is what the user stores (0 without a quota,
// which it does not read).
func (h *Handler) refuseOverQuota(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) (used int64, answered bool) {
	if h.quota <= 0 {
		return 0, false
	}
	usage, err := h.store.CollectionUsage(r.Context(), u.ID)
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return 0, true
	}
	for _, n := range usage {
		used += n
	}
	if used >= h.quota {
		sendBadRequest(w, errOverQuota)
		return used, true
	}
	return used, false
}

// With a quota, an account may also hold at most one record per
// quotaBytesPerRecord bytes of it and maxCollections collections
// (docs/protocol.md §9): the quota counts payload bytes only, so records
// with empty payloads, each still a row of up to three 64-byte ids, or a
// new collection name per upload, would otherwise store without bound.
// A real record's encrypted payload is a few hundred bytes, so an account
// within its quota never meets the record limit, and Firefox uses about
// a dozen collections.
const (
	quotaBytesPerRecord = 50
	maxCollections      = 100
)

// setLimits puts the quota and the limits that come with it into opt.
func (h *Handler) setLimits(opt *syncstore.WriteOptions) {
	opt.QuotaBytes = h.quota
	if h.quota > 0 {
		opt.MaxRecords = max(h.quota/quotaBytesPerRecord, 1)
		opt.MaxCollections = maxCollections
	}
}
