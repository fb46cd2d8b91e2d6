package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/syncserver/syncserver/syncstore"
)

// postCollection answers POST (or PUT) storage/<collection> (docs/protocol.md
// §6.8): a batch upload written in one transaction, with per-record
// failures reported by id. A body that is a single object is one record,
// answered like a PUT.
func (h *Handler) postCollection(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, now syncstore.Timestamp) {
	opt, err := writeOptions(r)
	if err != nil {
		sendBadRequest(w, errIllegalMethod)
		return
	}
	req := h.readBodyOrFail(w, r, u)
	if req == nil {
		return
	}
	defer h.releaseBody(req)
	body := bytes.TrimSpace(req.data)
	// The one validation of the body: records are decoded from it as it
	// is. The Reference checks X-If-Unmodified-Since before it reads the
	// body.
	if !json.Valid(body) {
		if !h.refuseWrite(w, r, rt, u, opt, checkUnmodified) {
			sendBadRequest(w, errMalformedJSON)
		}
		return
	}
	switch body[0] {
	case '{':
		rec, derr := syncstore.DecodeValidWBO(body, h.maxPayload)
		if derr != nil {
			// A record with an id goes on to the PUT handler, which checks
			// the quota before validating it.
			checks := []writeCheck{checkUnmodified, checkQuota}
			if derr.Reason == syncstore.ReasonInvalidID {
				checks = checks[:1]
			}
			if !h.refuseWrite(w, r, rt, u, opt, checks...) {
				sendBadRequest(w, errInvalidWBO)
			}
			return
		}
		h.writeOne(w, r, rt, u, rec, opt)
	case '[':
		h.writeBatch(w, r, rt, u, body, opt, now)
	default:
		if !h.refuseWrite(w, r, rt, u, opt, checkUnmodified) {
			sendBadRequest(w, errInvalidWBO)
		}
	}
}

// writeBatch validates each element of a JSON array, applies the batch
// limits, stores the accepted records and reports the outcome.
func (h *Handler) writeBatch(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, body []byte, opt syncstore.WriteOptions, now syncstore.Timestamp) {
	var (
		recs   = make([]syncstore.WBO, 0, min(countElements(body), h.maxPostRecords))
		failed failures
		index  int
		bytes  int64
	)
	forEachElement(body, func(elem []byte) {
		// The index counts invalid elements too, as in the Reference.
		i := index
		index++
		rec, derr := syncstore.DecodeValidWBO(elem, h.maxPayload)
		if derr != nil {
			id := derr.ID
			if derr.Reason == syncstore.ReasonInvalidWBO {
				// The Reference cannot read any field of such an element,
				// so it keys the failure under "" (docs/protocol.md §5.2).
				id = ""
			}
			failed.set(id, derr.Reason)
			return
		}
		if i >= h.maxPostRecords {
			failed.set(rec.ID, syncstore.ReasonRetryWBO)
			return
		}
		// The running total keeps growing past the limit, so every later
		// record with a payload fails too and the client retries them in
		// order.
		bytes += rec.PayloadSize()
		if bytes >= int64(h.maxPostBytes) {
			failed.set(rec.ID, syncstore.ReasonRetryBytes)
			return
		}
		recs = append(recs, *rec)
	})

	modified := now
	if len(recs) > 0 {
		h.setLimits(&opt)
		res, err := h.store.PutRecords(r.Context(), u.ID, rt.collection, recs, opt)
		if err != nil {
			h.storeFailed(w, r, rt, err)
			return
		}
		modified = res.Modified
		h.setQuotaRemaining(w, res.UsedBytes)
	} else if h.refuseWrite(w, r, rt, u, opt, checkUnmodified) {
		// Nothing to write, so no transaction; the precondition and the
		// quota still decide the answer.
		return
	} else if used, answered := h.refuseOverQuota(w, r, rt, u); answered {
		return
	} else {
		// Still a successful upload, which reports a quota running out
		// (docs/protocol.md §4.1).
		h.setQuotaRemaining(w, used)
		// No commit timestamp: the body's "modified" is the time the
		// header would carry.
		var ok bool
		if modified, ok = settledNow(w, now); !ok {
			return
		}
	}

	out := h.buffers.get()
	defer h.buffers.put(out)
	b := append(*out, `{"modified":`...)
	b = modified.AppendText(b)
	b = append(b, `,"success":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = syncstore.AppendJSONString(b, recs[i].ID)
	}
	b = append(b, `],"failed":`...)
	b = failed.appendJSON(b)
	b = append(b, '}')
	*out = b
	setTimestamp(w, modified)
	send(w, http.StatusOK, typeJSON, b)
}

// failures collects per-id failure reasons in first-seen order. As in the
// Reference a later failure for the same id replaces the earlier one, and
// each value is a one-element list (docs/protocol.md §5.2).
type failures struct {
	ids     []string
	reasons []string
	index   map[string]int // position of each id in ids
}

func (f *failures) set(id, reason string) {
	if i, ok := f.index[id]; ok {
		f.reasons[i] = reason
		return
	}
	if f.index == nil {
		f.index = make(map[string]int)
	}
	f.index[id] = len(f.ids)
	f.ids = append(f.ids, id)
	f.reasons = append(f.reasons, reason)
}

func (f *failures) appendJSON(dst []byte) []byte {
	dst = append(dst, '{')
	for i, id := range f.ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = syncstore.AppendJSONString(dst, id)
		dst = append(dst, ":["...)
		dst = syncstore.AppendJSONString(dst, f.reasons[i])
		dst = append(dst, ']')
	}
	return append(dst, '}')
}
