package httpapi

import (
	"encoding/binary"
	"net/http"
	"strconv"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// getCollection answers GET storage/<collection> (docs/protocol.md §6.5): ids
// or full records in the format the Accept header picks. Unknown and empty
// collections give an empty list.
func (h *Handler) getCollection(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
	l, err := parseListing(r.URL.RawQuery)
	if err != nil {
		sendBadRequest(w, errIllegalMethod)
		return
	}
	recs, err := h.store.GetRecords(r.Context(), u.ID, rt.collection, &l.query)
	h.sendListing(w, r, rt, l, recs, err)
}

// getCollectionAndLast is getCollection from a store that reads the
// user's last write timestamp with the records, which then stands in for
// userNow: one read instead of two.
func (h *Handler) getCollectionAndLast(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, ls syncstore.ListStamper, now syncstore.Timestamp) {
	l, err := parseListing(r.URL.RawQuery)
	if err != nil {
		if _, ok := h.userNow(w, r, rt, u, now); ok {
			sendBadRequest(w, errIllegalMethod)
		}
		return
	}
	recs, last, err := ls.GetRecordsAndLast(r.Context(), u.ID, rt.collection, &l.query)
	if err == nil && last > now {
		setTimestamp(w, last)
	}
	h.sendListing(w, r, rt, l, recs, err)
}

// sendListing answers a GET of a collection with what the store returned.
func (h *Handler) sendListing(w http.ResponseWriter, r *http.Request, rt *route, l *listing, recs []syncstore.WBO, err error) {
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	// Several Accept lines form one list (RFC 9110 §5.3).
	f := negotiate(strings.Join(r.Header.Values("Accept"), ","))
	buf := h.buffers.get()
	defer h.buffers.put(buf)
	b := appendListing(*buf, recs, l.full, f)
	*buf = b
	w.Header().Set(headerRecords, strconv.Itoa(len(recs)))
	send(w, http.StatusOK, f.contentType(), b)
}

// appendListing renders records (or only their ids) in format f: a JSON
// array; one JSON value per line, each ending in "\n", the last one too;
// or each value preceded by its length as 4 big-endian bytes.
func appendListing(dst []byte, recs []syncstore.WBO, full bool, f format) []byte {
	if f == formatJSON {
		dst = append(dst, '[')
	}
	for i := range recs {
		start := len(dst)
		switch f {
		case formatJSON:
			if i > 0 {
				dst = append(dst, ',')
			}
		case formatWhoisi:
			dst = append(dst, 0, 0, 0, 0)
		}
		valueStart := len(dst)
		if full {
			dst = recs[i].AppendJSON(dst)
		} else {
			dst = syncstore.AppendJSONString(dst, recs[i].ID)
		}
		switch f {
		case formatNewlines:
			// Serialised JSON has no raw newlines (they are escaped), so each
			// record is exactly one line, as Firefox's line parser needs.
			dst = append(dst, '\n')
		case formatWhoisi:
			binary.BigEndian.PutUint32(dst[start:valueStart], uint32(len(dst)-valueStart))
		}
	}
	if f == formatJSON {
		dst = append(dst, ']')
	}
	return dst
}

// deleteCollection answers DELETE storage/<collection> (docs/protocol.md
// §6.9): the records the parameters select, all of them without any.
func (h *Handler) deleteCollection(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
	l, err := parseListing(r.URL.RawQuery)
	if err != nil {
		sendBadRequest(w, errIllegalMethod)
		return
	}
	opt, err := writeOptions(r)
	if err != nil {
		sendBadRequest(w, errIllegalMethod)
		return
	}
	ts, err := h.store.DeleteRecords(r.Context(), u.ID, rt.collection, &l.query, opt)
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	sendTimestamp(w, ts)
}

// deleteStorage answers DELETE storage (docs/protocol.md §6.11), which wipes
// every record of the user but only with X-Confirm-Delete present.
func (h *Handler) deleteStorage(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
	if _, ok := r.Header["X-Confirm-Delete"]; !ok {
		sendBadRequest(w, errInvalidWrite)
		return
	}
	ts, err := h.store.DeleteStorage(r.Context(), u.ID)
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	sendTimestamp(w, ts)
}
