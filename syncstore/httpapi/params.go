package httpapi

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// headerIfUnmodifiedSince carries the client's last known collection
// timestamp on writes (docs/protocol.md §4.2).
const headerIfUnmodifiedSince = "X-If-Unmodified-Since"

// errBadParameter: a query parameter or header value that does not parse
// (400 body 1).
var errBadParameter = errors.New("bad parameter value")

// listing is what the query string of a collection GET or DELETE asks for.
type listing struct {
	query syncstore.Query
	// full asks for whole records rather than ids.
	full bool
}

// parseListing reads the collection parameters of docs/protocol.md §6.5 with
// the Reference's rules: unknown parameters are ignored, sort values other
// than oldest/newest/index are ignored, offset counts only with limit,
// and any non-empty full means full records. Unlike the Reference, older
// and newer (and index_above and index_below) apply together.
func parseListing(rawQuery string) (*listing, error) {
	vals := queryValues(rawQuery)
	l := &listing{}
	q := &l.query
	get := func(name string) (string, bool) {
		v, ok := vals[name]
		if !ok || len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	if v, ok := get("ids"); ok {
		q.IDs = strings.Split(v, ",")
	}
	if v, ok := get("parentid"); ok {
		q.ParentID = &v
	}
	if v, ok := get("predecessorid"); ok {
		q.PredecessorID = &v
	}
	var err error
	if q.Newer, err = timestampParam(get, "newer"); err != nil {
		return nil, err
	}
	if q.Older, err = timestampParam(get, "older"); err != nil {
		return nil, err
	}
	if q.IndexAbove, err = floatParam(get, "index_above"); err != nil {
		return nil, err
	}
	if q.IndexBelow, err = floatParam(get, "index_below"); err != nil {
		return nil, err
	}
	limit, hasLimit, err := intParam(get, "limit")
	if err != nil {
		return nil, err
	}
	offset, _, err := intParam(get, "offset")
	if err != nil {
		return nil, err
	}
	if hasLimit && limit > 0 {
		q.Limit = limit
		if offset > 0 {
			q.Offset = offset
		}
	}
	if v, ok := get("sort"); ok {
		q.Sort = syncstore.ParseSort(v)
	}
	if v, ok := get("full"); ok && v != "" {
		l.full = true
	}
	return l, nil
}

// queryValues reads a raw query string the way the Reference's parser
// (Python's parse_qsl under WebOb) read it, not as url.ParseQuery does:
// a '%' that starts no valid escape stands for itself, and ';' is part of
// a value (Go drops a pair holding either). Ids may hold both
// (docs/protocol.md §2.2), and Firefox sends ids= unescaped, so a dropped
// pair would lose the ids filter: a DELETE of a few ids would delete the
// whole collection. Pairs split at '&'; '+' is a space; a name without
// '=' has the empty value.
func queryValues(raw string) map[string][]string {
	vals := make(map[string][]string)
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		name, value, _ := strings.Cut(pair, "=")
		name = unescapeQuery(name)
		vals[name] = append(vals[name], unescapeQuery(value))
	}
	return vals
}

// unescapeQuery decodes '+' and valid %XX escapes of one query
// component and leaves everything else as it is.
func unescapeQuery(s string) string {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func timestampParam(get func(string) (string, bool), name string) (*syncstore.Timestamp, error) {
	v, ok := get(name)
	if !ok {
		return nil, nil
	}
	ts, err := syncstore.ParseTimestamp(v)
	if err != nil {
		return nil, fmt.Errorf("%s=%q: %w", name, v, errBadParameter)
	}
	return &ts, nil
}

func floatParam(get func(string) (string, bool), name string) (*float64, error) {
	v, ok := get(name)
	if !ok {
		return nil, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%s=%q: %w", name, v, errBadParameter)
	}
	return &f, nil
}

func intParam(get func(string) (string, bool), name string) (int, bool, error) {
	v, ok := get(name)
	if !ok {
		return 0, false, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false, fmt.Errorf("%s=%q: %w", name, v, errBadParameter)
	}
	return n, true, nil
}

// writeOptions reads X-If-Unmodified-Since; quota applies to uploads
// only, so callers add it. A value that is not a number is refused (the
// Reference crashed on it).
func writeOptions(r *http.Request) (syncstore.WriteOptions, error) {
	var opt syncstore.WriteOptions
	v, ok := r.Header[headerIfUnmodifiedSince]
	if !ok || len(v) == 0 {
		return opt, nil
	}
	ts, err := syncstore.ParseTimestamp(strings.TrimSpace(v[0]))
	if err != nil {
		return opt, fmt.Errorf("%s: %q: %w", headerIfUnmodifiedSince, v[0], errBadParameter)
	}
	opt.IfUnmodifiedSince = &ts
	return opt, nil
}
