package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

func str(s string) *string { return &s }
func num(n int64) *int64   { return &n }

func tsPtr(ts syncstore.Timestamp) *syncstore.Timestamp { return &ts }
func floatPtr(f float64) *float64                       { return &f }

// rec builds a record with a payload.
func rec(id, payload string) syncstore.WBO {
	return syncstore.WBO{ID: id, Payload: str(payload)}
}

func (e *env) user(t *testing.T, name string) *syncstore.User {
	t.Helper()
	u := &syncstore.User{Name: name, PasswordHash: "hash-" + name, Email: name + "@example.com"}
	if err := e.store.CreateUser(e.ctx, u); err != nil {
		t.Fatalf("CreateUser(%q): %v", name, err)
	}
	if u.ID == 0 {
		t.Fatalf("CreateUser(%q) left ID 0", name)
	}
	return u
}

func (e *env) put(t *testing.T, uid int64, coll string, recs ...syncstore.WBO) *syncstore.WriteResult {
	t.Helper()
	return e.putOpt(t, uid, coll, syncstore.WriteOptions{}, recs...)
}

func (e *env) putOpt(t *testing.T, uid int64, coll string, opt syncstore.WriteOptions, recs ...syncstore.WBO) *syncstore.WriteResult {
	t.Helper()
	res, err := e.store.PutRecords(e.ctx, uid, coll, recs, opt)
	if err != nil {
		t.Fatalf("PutRecords(%s, %d records): %v", coll, len(recs), err)
	}
	if len(res.RecordModified) != len(recs) {
		t.Fatalf("PutRecords(%s): %d RecordModified for %d records", coll, len(res.RecordModified), len(recs))
	}
	return res
}

func (e *env) get(t *testing.T, uid int64, coll, id string) *syncstore.WBO {
	t.Helper()
	w, err := e.store.GetRecord(e.ctx, uid, coll, id)
	if err != nil {
		t.Fatalf("GetRecord(%s/%s): %v", coll, id, err)
	}
	if w.ID != id {
		t.Fatalf("GetRecord(%s/%s) returned id %q", coll, id, w.ID)
	}
	if w.TTL != nil {
		t.Errorf("GetRecord(%s/%s) returned a TTL; stores keep the absolute expiry only", coll, id)
	}
	return w
}

func (e *env) wantMissing(t *testing.T, uid int64, coll, id string) {
	t.Helper()
	w, err := e.store.GetRecord(e.ctx, uid, coll, id)
	if !errors.Is(err, syncstore.ErrNotFound) {
		t.Fatalf("GetRecord(%s/%s) = %+v, %v; want ErrNotFound", coll, id, w, err)
	}
}

func (e *env) list(t *testing.T, uid int64, coll string, q *syncstore.Query) []syncstore.WBO {
	t.Helper()
	if q == nil {
		q = &syncstore.Query{}
	}
	ws, err := e.store.GetRecords(e.ctx, uid, coll, q)
	if err != nil {
		t.Fatalf("GetRecords(%s, %+v): %v", coll, *q, err)
	}
	return ws
}

// listIDs returns the ids of the matching records in the store's order.
func (e *env) listIDs(t *testing.T, uid int64, coll string, q *syncstore.Query) []string {
	t.Helper()
	return idsOf(e.list(t, uid, coll, q))
}

func (e *env) del(t *testing.T, uid int64, coll string, q *syncstore.Query) syncstore.Timestamp {
	t.Helper()
	if q == nil {
		q = &syncstore.Query{}
	}
	ts, err := e.store.DeleteRecords(e.ctx, uid, coll, q, syncstore.WriteOptions{})
	if err != nil {
		t.Fatalf("DeleteRecords(%s, %+v): %v", coll, *q, err)
	}
	return ts
}

func (e *env) stamps(t *testing.T, uid int64) map[string]syncstore.Timestamp {
	t.Helper()
	m, err := e.store.CollectionTimestamps(e.ctx, uid)
	if err != nil {
		t.Fatalf("CollectionTimestamps: %v", err)
	}
	return m
}

func (e *env) counts(t *testing.T, uid int64) map[string]int64 {
	t.Helper()
	m, err := e.store.CollectionCounts(e.ctx, uid)
	if err != nil {
		t.Fatalf("CollectionCounts: %v", err)
	}
	return m
}

func (e *env) usage(t *testing.T, uid int64) map[string]int64 {
	t.Helper()
	m, err := e.store.CollectionUsage(e.ctx, uid)
	if err != nil {
		t.Fatalf("CollectionUsage: %v", err)
	}
	return m
}

func idsOf(ws []syncstore.WBO) []string {
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.ID
	}
	return ids
}

// sameSet compares ids ignoring order.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// nonZero drops zero entries, so "absent" and "0" compare equal for
// collections whose rows are all expired.
func nonZero(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func wantCounts[V comparable](t *testing.T, what string, got, want map[string]V) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

// describe renders a record for failure messages.
func describe(w *syncstore.WBO) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{id=%q modified=%s", w.ID, w.Modified)
	if w.SortIndex != nil {
		fmt.Fprintf(&b, " sortindex=%d", *w.SortIndex)
	}
	if w.Payload != nil {
		p := *w.Payload
		if len(p) > 40 {
			p = p[:40] + "…"
		}
		fmt.Fprintf(&b, " payload=%q", p)
	}
	if w.ParentID != nil {
		fmt.Fprintf(&b, " parentid=%q", *w.ParentID)
	}
	if w.PredecessorID != nil {
		fmt.Fprintf(&b, " predecessorid=%q", *w.PredecessorID)
	}
	return b.String() + "}"
}

// wantRecord compares every output field of got with want.
func wantRecord(t *testing.T, got *syncstore.WBO, want syncstore.WBO) {
	t.Helper()
	eqStr := func(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	eqNum := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if got.ID != want.ID || got.Modified != want.Modified || !eqNum(got.SortIndex, want.SortIndex) ||
		!eqStr(got.Payload, want.Payload) || !eqStr(got.ParentID, want.ParentID) || !eqStr(got.PredecessorID, want.PredecessorID) {
		t.Errorf("record = %s\n  want %s", describe(got), describe(&want))
	}
}
