package memcache

import (
	"encoding/json"

	"github.com/syncserver/syncserver/syncstore"
)

// envelope is a cached answer with the counters it was read under. It is
// valid only while the global epoch and the user's generation still hold
// these values.
type envelope[T any] struct {
	Epoch uint64 `json:"e"`
	Gen   uint64 `json:"g"`
	Value T      `json:"v"`
}

// maxItemSize keeps values under memcached's default 1 MiB item limit
// (minus key and header); larger answers are simply not cached, so the
// server never answers SERVER_ERROR.
const maxItemSize = 1000 * 1000

// stamps is CollectionTimestamps in centiseconds: Timestamp marshals as a
// decimal with two places, which would not read back into an integer.
type stamps map[string]int64

func stampsFrom(m map[string]syncstore.Timestamp) stamps {
	out := make(stamps, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

func (s stamps) timestamps() map[string]syncstore.Timestamp {
	out := make(map[string]syncstore.Timestamp, len(s))
	for k, v := range s {
		out[k] = syncstore.Timestamp(v)
	}
	return out
}

// record is a GetRecord answer: the record, or Found false for
// ErrNotFound (clients of a new account ask for meta/global until they
// upload one, so the absence is worth caching too).
type record struct {
	Found         bool    `json:"f,omitempty"`
	ID            string  `json:"i,omitempty"`
	Modified      int64   `json:"m,omitempty"`
	SortIndex     *int64  `json:"s,omitempty"`
	Payload       *string `json:"p,omitempty"`
	ParentID      *string `json:"a,omitempty"`
	PredecessorID *string `json:"b,omitempty"`
}

func recordFrom(w *syncstore.WBO) record {
	return record{
		Found:         true,
		ID:            w.ID,
		Modified:      int64(w.Modified),
		SortIndex:     w.SortIndex,
		Payload:       w.Payload,
		ParentID:      w.ParentID,
		PredecessorID: w.PredecessorID,
	}
}

func (r record) wbo() (*syncstore.WBO, error) {
	if !r.Found {
		return nil, syncstore.ErrNotFound
	}
	return &syncstore.WBO{
		ID:            r.ID,
		Modified:      syncstore.Timestamp(r.Modified),
		SortIndex:     r.SortIndex,
		Payload:       r.Payload,
		ParentID:      r.ParentID,
		PredecessorID: r.PredecessorID,
	}, nil
}

func encode[T any](e envelope[T]) ([]byte, error) {
	return json.Marshal(e)
}

func decode[T any](data []byte) (envelope[T], error) {
	var e envelope[T]
	err := json.Unmarshal(data, &e)
	return e, err
}
