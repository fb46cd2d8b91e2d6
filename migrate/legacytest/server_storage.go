package legacytest

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The reads: info/*, collection listings and single records.

const wboColumns = "id, parentid, modified, predecessorid, sortindex, payload"

// info answers GET /<v>/<u>/info/<what>.
func (s *server) info(c *call) error {
	ctx := c.r.Context()
	if c.collection == "quota" {
		var kb sql.NullFloat64
		q := "SELECT ROUND(SUM(LENGTH(payload))/1024) FROM " + s.wbo + " WHERE username = ?"
		if err := s.db.QueryRowContext(ctx, q, c.user).Scan(&kb); err != nil {
			return fmt.Errorf("reading quota of %q: %w", c.user, err)
		}
		c.send(http.StatusOK, []byte("["+strconv.FormatInt(int64(kb.Float64), 10)+"]"))
		return nil
	}
	agg := map[string]string{"collections": "MAX(modified)", "collection_counts": "COUNT(*)", "collection_usage": "SUM(payload_size)"}[c.collection]
	if agg == "" {
		c.problem(http.StatusBadRequest, 1)
		return nil
	}
	rows, err := s.db.QueryContext(ctx, "SELECT collection, "+agg+" FROM "+s.wbo+" WHERE username = ? GROUP BY collection", c.user)
	if err != nil {
		return fmt.Errorf("reading info/%s of %q: %w", c.collection, c.user, err)
	}
	defer rows.Close()
	var out phpArray
	for rows.Next() {
		var name string
		var v sql.NullFloat64
		if err := rows.Scan(&name, &v); err != nil {
			return fmt.Errorf("reading info/%s of %q: %w", c.collection, c.user, err)
		}
		switch c.collection {
		case "collections":
			out.set(name, jsonValue(v.Float64))
		case "collection_counts":
			out.set(name, jsonValue(int64(v.Float64)))
		default: // KB rounded up; PHP's ceil() gives a float
			out.set(name, jsonValue(math.Ceil(float64(int64(v.Float64))/1024)))
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading info/%s of %q: %w", c.collection, c.user, err)
	}
	c.send(http.StatusOK, out.appendJSON(nil))
	return nil
}

// record is one wbo row as FSyncMS's wbo::populate() reads it.
type record struct {
	id                               string
	parentid, predecessorid, payload sql.NullString
	modified                         sql.NullFloat64
	sortindex                        sql.NullInt64
}

// json is wbo::json(): NULL fields left out, in populate()'s order; nil
// where json_encode fails (text that is not UTF-8).
func (r *record) json() []byte {
	var a phpArray
	a.set("id", jsonValue(r.id))
	if r.parentid.Valid {
		a.set("parentid", jsonValue(r.parentid.String))
	}
	if r.modified.Valid {
		a.set("modified", jsonValue(phpRound(r.modified.Float64)))
	}
	if r.predecessorid.Valid {
		a.set("predecessorid", jsonValue(r.predecessorid.String))
	}
	if r.sortindex.Valid {
		a.set("sortindex", jsonValue(r.sortindex.Int64))
	}
	if r.payload.Valid {
		a.set("payload", jsonValue(r.payload.String))
	}
	for _, v := range a.vals {
		if v == nil {
			return nil
		}
	}
	return a.appendJSON(nil)
}

// records runs a SELECT of "id" or wboColumns and encodes each row as
// WBOJsonOutput does.
func (s *server) records(c *call, full bool, filter string, args ...any) ([][]byte, error) {
	cols := "id"
	if full {
		cols = wboColumns
	}
	stmt := "SELECT " + cols + " FROM " + s.wbo + " WHERE username = ? AND collection = ?" + filter
	rows, err := s.db.QueryContext(c.r.Context(), stmt, append([]any{c.user, c.collection}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("reading collection %s of %q: %w", c.collection, c.user, err)
	}
	defer rows.Close()
	var items [][]byte
	for rows.Next() {
		var r record
		if !full {
			err = rows.Scan(&r.id)
			items = append(items, jsonValue(r.id))
		} else {
			err = rows.Scan(&r.id, &r.parentid, &r.modified, &r.predecessorid, &r.sortindex, &r.payload)
			items = append(items, r.json())
		}
		if err != nil {
			return nil, fmt.Errorf("reading collection %s of %q: %w", c.collection, c.user, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading collection %s of %q: %w", c.collection, c.user, err)
	}
	return items, nil
}

func (s *server) getItem(c *call) error {
	items, err := s.records(c, true, " AND id = ?", c.id)
	switch {
	case err != nil:
		return err
	case len(items) == 0:
		c.problem(http.StatusNotFound, "record not found")
	default:
		c.send(http.StatusOK, items[0])
	}
	return nil
}

// search is validate_search_params().
type search struct {
	parentid, predecessorid any // string or nil
	newer, older            float64
	sort                    string
	limit, offset           int64
	ids                     []string
	indexAbove, indexBelow  int64
}

func parseSearch(q url.Values) search {
	get := func(k string) (string, bool) {
		v := q[k]
		if len(v) == 0 {
			return "", false
		}
		return v[len(v)-1], true // PHP keeps the last of repeated keys
	}
	idLike := func(k string) any {
		if v, ok := get(k); ok && len(v) <= 64 && !strings.Contains(v, "/") {
			return v
		}
		return nil
	}
	positive := func(k string) int64 {
		if v, ok := get(k); ok {
			if f, ok := numeric(v); ok && f > 0 {
				return phpIntOfFloat(f)
			}
		}
		return 0
	}
	p := search{parentid: idLike("parentid"), predecessorid: idLike("predecessorid"),
		limit: positive("limit"), offset: positive("offset"), indexAbove: positive("index_above"), indexBelow: positive("index_below")}
	if v, ok := get("newer"); ok {
		f, _ := numeric(v)
		p.newer = phpRound(f)
	}
	if v, ok := get("older"); ok {
		f, _ := numeric(v)
		p.older = phpRound(f)
	}
	if v, _ := get("sort"); v == "oldest" || v == "newest" || v == "index" {
		p.sort = v
	}
	if v, ok := get("ids"); ok {
		p.ids = []string{}
		for _, id := range strings.Split(v, ",") {
			if len(id) <= 64 && !strings.Contains(id, "/") {
				p.ids = append(p.ids, id)
			}
		}
	}
	return p
}

func truthyArg(v any) bool {
	s, ok := v.(string)
	return ok && truthy(s)
}

// where is the filter retrieve_objects() and delete_objects() build,
// bugs included: index_above/index_below bind parentid (so they match
// nothing without one) and delete_objects binds parentid for
// predecessorid too.
func (p search) where(deleting bool) (q string, args []any) {
	add := func(cond string, arg any) {
		q += " AND " + cond
		args = append(args, arg)
	}
	if len(p.ids) > 0 {
		q += " AND id IN (?" + strings.Repeat(",?", len(p.ids)-1) + ")"
		for _, id := range p.ids {
			args = append(args, id)
		}
	}
	if truthyArg(p.parentid) {
		add("parentid = ?", p.parentid)
	}
	if truthyArg(p.predecessorid) && deleting {
		add("predecessorid = ?", p.parentid)
	} else if truthyArg(p.predecessorid) {
		add("predecessorid = ?", p.predecessorid)
	}
	if p.indexAbove != 0 {
		add("sortindex > ?", p.parentid)
	}
	if p.indexBelow != 0 {
		add("sortindex < ?", p.parentid)
	}
	if p.newer != 0 {
		add("modified > ?", p.newer)
	}
	if p.older != 0 {
		add("modified < ?", p.older)
	}
	return q, args
}

// getCollection answers GET /<v>/<u>/storage/<c>, as WBOJsonOutput.
func (s *server) getCollection(c *call) error {
	q := c.r.URL.Query()
	full := len(q["full"]) > 0 && truthy(q["full"][len(q["full"])-1])
	p := parseSearch(q)
	filter, args := p.where(false)
	switch p.sort {
	case "index":
		filter += " ORDER BY sortindex DESC"
	case "newest":
		filter += " ORDER BY modified DESC"
	case "oldest":
		filter += " ORDER BY modified"
	}
	if p.limit != 0 {
		filter += " LIMIT " + strconv.FormatInt(p.limit, 10)
		if p.offset != 0 {
			filter += " OFFSET " + strconv.FormatInt(p.offset, 10)
		}
	}
	items, err := s.records(c, full, filter, args...)
	if err != nil {
		return err
	}

	format := "json"
	if accept, ok := c.r.Header["Accept"]; ok {
		a := strings.Join(accept, ", ")
		if !strings.Contains(a, "*/*") && !strings.Contains(a, "application/json") {
			switch {
			case strings.Contains(a, "application/whoisi"):
				format = "whoisi"
			case strings.Contains(a, "application/newlines"):
				format = "newlines"
			}
		}
	}
	if format != "json" {
		// WBOJsonOutput overrides index.php's application/json here.
		setType(c.w, "application/"+format)
	}
	if len(items) > 0 {
		c.w.Header().Set("X-Weave-Records", strconv.Itoa(len(items)))
	}
	var b []byte
	switch format {
	case "json":
		b = append(append([]byte{'['}, bytes.Join(items, []byte{','})...), ']')
	case "newlines":
		for _, it := range items {
			b = append(append(b, it...), '\n')
		}
	case "whoisi":
		for _, it := range items {
			b = binary.BigEndian.AppendUint32(b, uint32(len(it)))
			b = append(b, it...)
		}
	}
	c.send(http.StatusOK, b)
	return nil
}
