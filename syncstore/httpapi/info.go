package httpapi

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"

	"github.com/syncserver/syncserver/syncstore"
)

// serveInfo answers GET info/<what> (docs/protocol.md §6.1–§6.4), always as
// JSON whatever the Accept header says.
func (h *Handler) serveInfo(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User) {
	buf := h.buffers.get()
	defer h.buffers.put(buf)
	b := *buf
	switch rt.info {
	case infoCollections:
		stamps, err := h.store.CollectionTimestamps(r.Context(), u.ID)
		if err != nil {
			h.storeFailed(w, r, rt, err)
			return
		}
		b = appendObject(b, stamps, func(dst []byte, ts syncstore.Timestamp) []byte {
			return ts.AppendText(dst)
		})
		w.Header().Set(headerRecords, strconv.Itoa(len(stamps)))
	case infoCounts:
		counts, err := h.store.CollectionCounts(r.Context(), u.ID)
		if err != nil {
			h.storeFailed(w, r, rt, err)
			return
		}
		b = appendObject(b, counts, func(dst []byte, n int64) []byte {
			return strconv.AppendInt(dst, n, 10)
		})
		w.Header().Set(headerRecords, strconv.Itoa(len(counts)))
	case infoUsage:
		usage, err := h.store.CollectionUsage(r.Context(), u.ID)
		if err != nil {
			h.storeFailed(w, r, rt, err)
			return
		}
		b = appendObject(b, usage, appendKB)
	case infoQuota:
		usage, err := h.store.CollectionUsage(r.Context(), u.ID)
		if err != nil {
			h.storeFailed(w, r, rt, err)
			return
		}
		var used int64
		for _, n := range usage {
			used += n
		}
		b = append(b, '[')
		b = appendKB(b, used)
		b = append(b, ',')
		if h.quota > 0 {
			// The Reference's limit is configured in whole KB and sent as
			// such.
			b = strconv.AppendFloat(b, float64(h.quota)/1024, 'f', -1, 64)
		} else {
			b = append(b, "null"...)
		}
		b = append(b, ']')
	}
	*buf = b
	send(w, http.StatusOK, typeJSON, b)
}

// infoCollections answers GET info/collections from a store that reads
// the user's last write timestamp with the collections', which then
// stands in for userNow.
func (h *Handler) infoCollections(w http.ResponseWriter, r *http.Request, rt *route, u *syncstore.User, ls syncstore.LastStamper, now syncstore.Timestamp) {
	sp, _ := h.stamps.Get().(*[]syncstore.CollectionStamp)
	if sp == nil {
		sp = new([]syncstore.CollectionStamp)
	}
	defer h.stamps.Put(sp)
	stamps, last, err := ls.CollectionTimestampsAndLast(r.Context(), u.ID, (*sp)[:0])
	*sp = stamps[:0]
	if err != nil {
		h.storeFailed(w, r, rt, err)
		return
	}
	if last > now {
		setTimestamp(w, last)
	}
	buf := h.buffers.get()
	defer h.buffers.put(buf)
	b := append(*buf, '{')
	for i, st := range stamps {
		if i > 0 {
			b = append(b, ',')
		}
		b = syncstore.AppendJSONString(b, st.Name)
		b = append(b, ':')
		b = st.Modified.AppendText(b)
	}
	b = append(b, '}')
	*buf = b
	w.Header().Set(headerRecords, strconv.Itoa(len(stamps)))
	send(w, http.StatusOK, typeJSON, b)
}

// appendObject renders m as a JSON object with keys in sorted order, so
// answers are stable.
func appendObject[V any](dst []byte, m map[string]V, appendValue func([]byte, V) []byte) []byte {
	// A user has a dozen collections or so: their names stay on the
	// stack.
	var buf [32]string
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = syncstore.AppendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendValue(dst, m[k])
	}
	return append(dst, '}')
}

// appendKB renders a byte count in KB as the Reference does: a float
// (0.5009765625), integral values too ("2.0", as Python prints them), so
// typed clients read the same type every time.
func appendKB(dst []byte, n int64) []byte {
	start := len(dst)
	dst = strconv.AppendFloat(dst, float64(n)/1024, 'f', -1, 64)
	if bytes.IndexByte(dst[start:], '.') < 0 {
		dst = append(dst, ".0"...)
	}
	return dst
}
