package legacytest

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// execer is what a write runs on: the pool, or POST's transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// incoming is a WBO from a PUT or POST body, as wbo::extract_json()
// leaves it: nil pointers are absent fields (JSON null counts as absent).
type incoming struct {
	id, parentid, predecessorid *string
	sortindex                   *int64
	hasPayload                  bool
	payload                     *string // nil with hasPayload: not a string
	errs                        []string
}

// extract is wbo::extract_json(); false where it fails.
func extract(v any) (*incoming, bool) {
	w := &incoming{}
	if s, ok := v.(string); ok {
		v, _ = decodeJSON([]byte(s))
	}
	var m map[string]any
	switch x := v.(type) {
	case map[string]any:
		m = x
	case []any:
		// A list has none of the keys; validation then fails on the id.
	default:
		w.errs = append(w.errs, "unable to extract from json")
		return w, false
	}
	str := func(k string) *string {
		if x, ok := m[k]; ok && x != nil {
			s := phpString(x)
			return &s
		}
		return nil
	}
	w.id, w.parentid, w.predecessorid = str("id"), str("parentid"), str("predecessorid")
	if x, ok := m["sortindex"]; ok {
		if !phpNumeric(x) {
			w.errs = append(w.errs, "invalid sortindex")
			return w, false
		}
		i := phpInt(x)
		w.sortindex = &i
	}
	if x, ok := m["payload"]; ok && x != nil {
		w.hasPayload = true
		if s, ok := x.(string); ok {
			w.payload = &s
		}
	}
	return w, true
}

// validate is wbo::validate().
func (w *incoming) validate() bool {
	if w.id == nil || !truthy(*w.id) || len(*w.id) > 64 || strings.Contains(*w.id, "/") {
		w.errs = append(w.errs, "invalid id")
	}
	if w.parentid != nil && len(*w.parentid) > 64 {
		w.errs = append(w.errs, "invalid parentid")
	}
	if w.predecessorid != nil && len(*w.predecessorid) > 64 {
		w.errs = append(w.errs, "invalid predecessorid")
	}
	if w.sortindex != nil && (*w.sortindex > 999999999 || *w.sortindex < -999999999) {
		w.errs = append(w.errs, "invalid sortindex")
	}
	if w.hasPayload && w.payload == nil {
		w.errs = append(w.errs, "payload needs to be json-encoded")
	}
	return len(w.errs) == 0
}

func (w *incoming) errorsJSON() []byte {
	var a phpArray
	for i, e := range w.errs {
		a.set(strconv.Itoa(i), jsonValue(e))
	}
	return a.appendJSON(nil)
}

func orNil[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// write is store_object() for a WBO with a payload (every column
// rewritten, absent ones NULL) and update_object() without one (only the
// given fields; modified only moves with parentid). Statement errors are
// dropped, as PDO's silent mode did.
func (s *server) write(ctx context.Context, ex execer, c *call, w *incoming) error {
	var err error
	if w.hasPayload {
		_, err = ex.ExecContext(ctx, "INSERT INTO "+s.wbo+` (username, id, collection, parentid, predecessorid, sortindex, modified, payload, payload_size)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE username = VALUES(username), id = VALUES(id),
			collection = VALUES(collection), parentid = VALUES(parentid), predecessorid = VALUES(predecessorid),
			sortindex = VALUES(sortindex), modified = VALUES(modified), payload = VALUES(payload), payload_size = VALUES(payload_size)`,
			c.user, *w.id, c.collection, orNil(w.parentid), orNil(w.predecessorid), orNil(w.sortindex), c.ts, *w.payload, len(*w.payload))
	} else {
		var sets []string
		var args []any
		if w.parentid != nil {
			sets, args = append(sets, "parentid = ?"), append(args, *w.parentid)
		}
		if w.predecessorid != nil {
			sets, args = append(sets, "predecessorid = ?"), append(args, *w.predecessorid)
		}
		if w.sortindex != nil {
			sets, args = append(sets, "sortindex = ?"), append(args, *w.sortindex)
		}
		if w.parentid != nil {
			sets, args = append(sets, "modified = ?"), append(args, c.ts)
		}
		if len(sets) == 0 {
			return nil
		}
		_, err = ex.ExecContext(ctx, "UPDATE "+s.wbo+" SET "+strings.Join(sets, ", ")+" WHERE username = ? AND collection = ? AND id = ?",
			append(args, c.user, c.collection, *w.id)...)
	}
	if err := silent(err); err != nil {
		return fmt.Errorf("storing %s/%s of %q: %w", c.collection, *w.id, c.user, err)
	}
	return nil
}

// body is get_json(): ok false answers 400 6.
func body(c *call) (v any, ok bool) {
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		return nil, false
	}
	v, ok = decodeJSON(fixUTF8(b))
	return v, ok && v != nil
}

// unmodified is check_timestamp(): false (412 sent) when the collection
// changed after X-If-Unmodified-Since. PHP 8 compares the float with the
// header numerically when it is numeric, else as strings.
func (s *server) unmodified(c *call) (bool, error) {
	hdr, ok := c.r.Header["X-If-Unmodified-Since"]
	if !ok {
		return true, nil
	}
	var max float64
	if truthy(c.collection) {
		var m sql.NullFloat64
		q := "SELECT MAX(modified) FROM " + s.wbo + " WHERE username = ? AND collection = ?"
		if err := s.db.QueryRowContext(c.r.Context(), q, c.user, c.collection).Scan(&m); err != nil {
			return false, fmt.Errorf("reading timestamp of %s of %q: %w", c.collection, c.user, err)
		}
		max = phpRound(m.Float64)
	}
	newer := phpFloat(max, 14) > hdr[0]
	if f, ok := numeric(hdr[0]); ok {
		newer = max > f
	}
	if newer {
		c.problem(http.StatusPreconditionFailed, 4)
		return false, nil
	}
	return true, nil
}

func (s *server) put(c *call) error {
	v, ok := body(c)
	var w *incoming
	if ok {
		w, ok = extract(v)
	}
	if !ok {
		c.problem(http.StatusBadRequest, 6)
		return nil
	}
	if ok, err := s.unmodified(c); !ok {
		return err
	}
	if (w.id == nil || !truthy(*w.id)) && truthy(c.id) {
		w.id = &c.id
	}
	if !w.validate() {
		c.problem(http.StatusBadRequest, 8)
		return nil
	}
	if err := s.write(c.r.Context(), s.db, c, w); err != nil {
		return err
	}
	c.send(http.StatusOK, jsonValue(c.ts))
	return nil
}

func (s *server) post(c *call) error {
	v, ok := body(c)
	if !ok {
		c.problem(http.StatusBadRequest, 6)
		return nil
	}
	if ok, err := s.unmodified(c); !ok {
		return err
	}
	// PHP's foreach also walks an object's values; clients send lists.
	items, _ := v.([]any)
	ctx := c.r.Context()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("starting POST to %s of %q: %w", c.collection, c.user, err)
	}
	defer tx.Rollback()
	success := []byte{'['}
	var failed phpArray
	for _, item := range items {
		w, ok := extract(item)
		if ok && w.validate() {
			if err := s.write(ctx, tx, c, w); err != nil {
				return err
			}
			if len(success) > 1 {
				success = append(success, ',')
			}
			success = append(success, jsonValue(*w.id)...)
			continue
		}
		key := ""
		if w.id != nil {
			key = *w.id
		}
		failed.set(key, w.errorsJSON())
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing POST to %s of %q: %w", c.collection, c.user, err)
	}
	out := append([]byte(`{"success":`), success...)
	out = append(out, `],"failed":`...)
	out = append(failed.appendJSON(out), '}')
	c.send(http.StatusOK, out)
	return nil
}

func (s *server) delete(c *call, function string) error {
	if ok, err := s.unmodified(c); !ok {
		return err
	}
	ctx := c.r.Context()
	var err error
	switch {
	case truthy(c.id):
		_, err = s.db.ExecContext(ctx, "DELETE FROM "+s.wbo+" WHERE username = ? AND collection = ? AND id = ?", c.user, c.collection, c.id)
	case truthy(c.collection):
		p := parseSearch(c.r.URL.Query())
		if p.limit != 0 || p.offset != 0 || p.sort != "" {
			// delete_objects() binds an undefined $username here, so
			// the DELETE matches no row; the answer is still 200.
			break
		}
		filter, args := p.where(true)
		_, err = s.db.ExecContext(ctx, "DELETE FROM "+s.wbo+" WHERE username = ? AND collection = ?"+filter,
			append([]any{c.user, c.collection}, args...)...)
	case function == "storage":
		if _, ok := c.r.Header["X-Confirm-Delete"]; !ok {
			c.problem(http.StatusPreconditionFailed, 4)
			return nil
		}
		_, err = s.db.ExecContext(ctx, "DELETE FROM "+s.wbo+" WHERE username = ?", c.user)
	}
	if err := silent(err); err != nil {
		return fmt.Errorf("deleting from %q of %q: %w", c.collection, c.user, err)
	}
	c.send(http.StatusOK, jsonValue(c.ts))
	return nil
}
