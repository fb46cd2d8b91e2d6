package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/syncserver/syncserver/syncstore"
)

// getItem answers GET storage/<collection>/<id> (docs/protocol.md §6.6): the
// record as JSON, or 404 when it is missing or expired — clients read a
// 404 on meta/global or crypto/keys as "fresh start".
func (h *Handler) getItem(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
	if !syncstore.ValidID(rt.id) {
		sendRecordNotFound(w)
		return
	}
	rec, err := h.store.GetRecord(r.Context(), u.ID, rt.collection, rt.id)
	h.sendItem(w, r, rt, rec, err)
}

// getItemAndLast is getItem from a store that reads the user's last write
// timestamp with the record, which then stands in for userNow: one read
// instead of two.
func (h *Handler) getItemAndLast(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, rs syncstore.RecordStamper, now syncstore.Timestamp) {
	rec, last, err := rs.GetRecordAndLast(r.Context(), u.ID, rt.collection, rt.id)
	if last > now && (err == nil || errors.Is(err, syncstore.ErrNotFound)) {
		setTimestamp(w, last)
	}
	h.sendItem(w, r, rt, rec, err)
}

// sendItem answers a GET of one record with what the store returned.
func (h *Handler) sendItem(w http.ResponseWriter, r *http.Request, rt *route, rec *syncstore.WBO, err error) {
	if errors.Is(err, syncstore.ErrNotFound) {
		sendRecordNotFound(w)
		return
	}
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	buf := h.buffers.get()
	defer h.buffers.put(buf)
	b := rec.AppendJSON(*buf)
	*buf = b
	send(w, http.StatusOK, typeJSON, b)
}

// sendRecordNotFound answers 404 for a record, with PHP's body.
func sendRecordNotFound(w http.ResponseWriter) {
	send(w, http.StatusNotFound, typeJSON, []byte(`"record not found"`))
}

// putItem answers PUT storage/<collection>/<id> (docs/protocol.md §6.7): one
// record, merged into the stored one, answered with its timestamp.
func (h *Handler) putItem(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
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
	body := req.data
	var (
		rec  *syncstore.WBO
		code int
	)
	switch {
	case !json.Valid(body):
		code = errMalformedJSON
	case !syncstore.ValidID(rt.id):
		code = errInvalidWBO
	default:
		var ok bool
		if rec, ok = decodeItem(body, rt.id, h.maxPayload); !ok {
			code = errInvalidWBO
		}
	}
	if code != 0 {
		// The Reference checks quota and the precondition before it reads
		// the body.
		if !h.refuseWrite(w, r, rt, u, opt, checkQuota, checkUnmodified) {
			sendBadRequest(w, code)
		}
		return
	}
	h.writeOne(w, r, rt, u, rec, opt, checkQuota)
}

// writeOne stores one record and answers with its modified time, in the
// body and in X-Weave-Timestamp: the write's timestamp, or for a
// metadata-only update of an existing record its unchanged modified
// (docs/protocol.md §6.7 decision). The store checks X-If-Unmodified-Since
// before the quota, the order of a POST (§6.8); a PUT of an item checks
// the quota first (§6.7), so its caller passes before = checkQuota, which
// is then asked again when the precondition failed.
func (h *Handler) writeOne(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, rec *syncstore.WBO, opt syncstore.WriteOptions, before ...writeCheck) {
	h.setLimits(&opt)
	res, err := h.store.PutRecords(r.Context(), u.ID, rt.collection, []syncstore.WBO{*rec}, opt)
	if err != nil {
		if errors.Is(err, syncstore.ErrModified) && h.refuseWrite(w, r, rt, u, opt, before...) {
			return
		}
		h.storeFailed(w, r, rt, err)
		return
	}
	h.setQuotaRemaining(w, res.UsedBytes)
	modified := res.Modified
	if len(res.RecordModified) == 1 {
		modified = res.RecordModified[0]
	}
	// Header and body carry the same text on every write (docs/protocol.md
	// §3.1): the modified of the record as it now stands.
	setTimestamp(w, modified)
	var text [24]byte
	send(w, http.StatusOK, typeJSON, modified.AppendText(text[:0]))
}

// decodeItem parses a PUT body, already valid JSON, as the record named
// by the URL (syncstore.DecodeValidItem).
func decodeItem(body []byte, id string, maxPayload int) (*syncstore.WBO, bool) {
	rec, derr := syncstore.DecodeValidItem(body, id, maxPayload)
	return rec, derr == nil
}

// deleteItem answers DELETE storage/<collection>/<id> (docs/protocol.md
// §6.10): 200 with the timestamp whether or not the record existed (an id
// no record can have included).
func (h *Handler) deleteItem(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
	opt, err := writeOptions(r)
	if err != nil {
		sendBadRequest(w, errIllegalMethod)
		return
	}
	q := syncstore.Query{IDs: []string{rt.id}}
	ts, err := h.store.DeleteRecords(r.Context(), u.ID, rt.collection, &q, opt)
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	sendTimestamp(w, ts)
}

// setQuotaRemaining adds X-Weave-Quota-Remaining (in KB) once less than a
// megabyte of quota is left, as the Reference does; Firefox warns the user.
func (h *Handler) setQuotaRemaining(w http.ResponseWriter, used int64) {
	if h.quota <= 0 {
		return
	}
	left := max(h.quota-used, 0)
	if left > 1024*1024 {
		return
	}
	w.Header().Set(headerQuotaRemaining, string(appendKB(nil, left)))
}
