package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/url"
	"strconv"
	"strings"
)

// Kinds of wrong answers. A request counts as an error under exactly one
// kind: the first check it fails.
const (
	kindTransport         = "transport"                // no HTTP answer (refused, reset, timeout)
	kindContentType       = "content-type"             // not the media type the protocol requires
	kindBadJSON           = "bad-json"                 // body does not parse
	kindBadShape          = "bad-shape"                // parses, but not the documented structure
	kindNoTimestamp       = "no-timestamp"             // X-Weave-Timestamp missing or not a number
	kindTimestampMismatch = "timestamp-mismatch"       // write answer: body timestamp ≠ X-Weave-Timestamp
	kindNotIncreasing     = "timestamp-not-increasing" // write timestamp ≤ the user's previous one
	kindRecordsHeader     = "x-weave-records"          // X-Weave-Records ≠ number of items
	kindNewer             = "newer-violated"           // a record not strictly newer than newer=
	kindMissing           = "missing-records"          // a record written since newer= is not returned
	kindUnexpected        = "unexpected-records"       // a record returned that nobody wrote since newer=
	kindRecordMismatch    = "record-mismatch"          // a returned record differs from what was written
	kindPostFailed        = "post-not-all-success"     // success/failed lists differ from what was sent
	kindStaleInfo         = "stale-info-collections"
	kindTimestampFormat   = "timestamp-format" // a timestamp without exactly two decimals
)

func kindStatus(code int) string { return "status-" + strconv.Itoa(code) }

// failure is a wrong answer: its kind and an example for the report.
type failure struct {
	kind   string
	detail string
}

func (f *failure) Error() string { return f.kind + ": " + f.detail }

func fail(kind, format string, args ...any) *failure {
	return &failure{kind: kind, detail: fmt.Sprintf(format, args...)}
}

// parseTS reads a protocol timestamp (decimal seconds) as centiseconds.
func parseTS(s string) (int64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, false
	}
	return int64(math.Round(f * 100)), true
}

func formatTS(cs int64) string {
	return fmt.Sprintf("%d.%02d", cs/100, cs%100)
}

// checkBasics checks what every answer must have: a status, the expected
// one, X-Weave-Timestamp (our Decision: on every response) and, when
// mediaType is set, that Content-Type. It returns the header timestamp.
func checkBasics(r *response, status int, mediaType string) (int64, *failure) {
	if r.err != nil {
		return 0, fail(kindTransport, "%v", r.err)
	}
	if r.status != status {
		return 0, fail(kindStatus(r.status), "want %d, got %d: %.100q", status, r.status, r.body)
	}
	h := r.header.Get("X-Weave-Timestamp")
	ts, ok := parseTS(h)
	if !ok {
		return 0, fail(kindNoTimestamp, "X-Weave-Timestamp %q", h)
	}
	if f := checkTimestampText(r, "X-Weave-Timestamp", h); f != nil {
		return 0, f
	}
	if mediaType != "" {
		got, _, err := mime.ParseMediaType(r.header.Get("Content-Type"))
		if err != nil || got != mediaType {
			return 0, fail(kindContentType, "want %s, got %q", mediaType, r.header.Get("Content-Type"))
		}
	}
	return ts, nil
}

// checkRecordsHeader checks X-Weave-Records against the n items
// returned. The protocol wants it on every info/collections and
// collection GET; legacy servers send it on collection GETs only, and
// only when something is returned (legacyOmits says whether this answer
// is one of those they leave without).
func checkRecordsHeader(r *response, n int, legacyOmits bool) *failure {
	v := r.header.Get("X-Weave-Records")
	if v == "" {
		if legacyOmits && r.tolerate(quirkNoRecordsHeader) {
			return nil
		}
		return fail(kindRecordsHeader, "X-Weave-Records missing for %d items", n)
	}
	if got, err := strconv.Atoi(v); err != nil || got != n {
		return fail(kindRecordsHeader, "X-Weave-Records %q for %d items", v, n)
	}
	return nil
}

// checkNodeURL checks a node/weave answer: a bare http(s) URL ending in /.
func checkNodeURL(r *response) *failure {
	if _, f := checkBasics(r, 200, ""); f != nil {
		return f
	}
	s := strings.TrimSpace(string(r.body))
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(s, "/") {
		return fail(kindBadShape, "node/weave body %.100q is not a URL ending in /", s)
	}
	return nil
}

// parseInfoCollections checks an info/collections answer and returns its
// map of collection timestamps.
func parseInfoCollections(r *response) (map[string]int64, *failure) {
	if _, f := checkBasics(r, 200, "application/json"); f != nil {
		return nil, f
	}
	var raw map[string]json.RawMessage
	if isEmptyArray(r.body) && r.tolerate(quirkEmptyArray) {
		return map[string]int64{}, checkRecordsHeader(r, 0, true)
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		if json.Valid(r.body) {
			return nil, fail(kindBadShape, "info/collections is not an object: %.100q", r.body)
		}
		return nil, fail(kindBadJSON, "%v", err)
	}
	out := make(map[string]int64, len(raw))
	for name, v := range raw {
		ts, f := jsonTimestamp(r, v)
		if f != nil {
			f.detail = fmt.Sprintf("info/collections[%q]: %s", name, f.detail)
			return nil, f
		}
		out[name] = ts
	}
	if f := checkRecordsHeader(r, len(raw), true); f != nil {
		return nil, f
	}
	return out, nil
}

// isEmptyArray reports whether a body is the JSON array [], which PHP's
// json_encode makes of an empty associative array.
func isEmptyArray(body []byte) bool {
	b := bytes.TrimSpace(body)
	return len(b) >= 2 && b[0] == '[' && len(bytes.TrimSpace(b[1:len(b)-1])) == 0 && b[len(b)-1] == ']'
}

// jsonTimestamp reads a timestamp that must be a JSON number with two
// decimals.
func jsonTimestamp(r *response, v json.RawMessage) (int64, *failure) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, fail(kindBadShape, "timestamp %.40q is not a JSON number", v)
	}
	ts, ok := parseTS(string(v))
	if !ok {
		return 0, fail(kindBadShape, "timestamp %.40q", v)
	}
	return ts, checkTimestampText(r, "timestamp", string(v))
}

// wireWBO is a record as a server returns it.
type wireWBO struct {
	ID       string          `json:"id"`
	Modified json.RawMessage `json:"modified"`
	Payload  *string         `json:"payload"`
}

// parseWBO checks one record object of answer r.
func parseWBO(r *response, line []byte) (wireWBO, int64, *failure) {
	var w wireWBO
	if err := json.Unmarshal(line, &w); err != nil {
		if json.Valid(line) {
			return w, 0, fail(kindBadShape, "record is not an object with string id/payload: %.100q", line)
		}
		return w, 0, fail(kindBadJSON, "%v", err)
	}
	if w.ID == "" {
		return w, 0, fail(kindBadShape, "record without id: %.100q", line)
	}
	ts, f := jsonTimestamp(r, w.Modified)
	if f != nil {
		return w, 0, f
	}
	if w.Payload == nil {
		return w, 0, fail(kindBadShape, "record %q without payload", w.ID)
	}
	return w, ts, nil
}

// checkSingleWBO checks GET storage/<c>/<id> of a record that exists.
func checkSingleWBO(r *response, id string) *failure {
	if _, f := checkBasics(r, 200, "application/json"); f != nil {
		return f
	}
	w, _, f := parseWBO(r, r.body)
	if f != nil {
		return f
	}
	if w.ID != id {
		return fail(kindRecordMismatch, "asked for %q, got %q", id, w.ID)
	}
	return nil
}

// parseNewlines splits r's application/newlines body: one record per
// line, every line (the last included) ending in "\n", no empty lines.
func parseNewlines(r *response, each func(w wireWBO, modified int64) *failure) (int, *failure) {
	body := r.body
	if len(body) == 0 {
		return 0, nil
	}
	if body[len(body)-1] != '\n' {
		return 0, fail(kindBadShape, "application/newlines body does not end with a newline")
	}
	n := 0
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\n')
		line := body[:i]
		body = body[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			return n, fail(kindBadShape, "empty line in application/newlines body")
		}
		w, ts, f := parseWBO(r, line)
		if f != nil {
			return n, f
		}
		n++
		if f := each(w, ts); f != nil {
			return n, f
		}
	}
	return n, nil
}

// postResult is a batch upload's answer.
type postResult struct {
	Modified json.RawMessage     `json:"modified"`
	Success  []string            `json:"success"`
	Failed   map[string][]string `json:"-"`
	// FailedRaw is read apart: legacy servers send [] when none failed.
	FailedRaw json.RawMessage `json:"failed"`
}

// parsePost checks the parts of a POST answer that tell what was written
// and returns it with the write's timestamp (the body's; a legacy answer
// without one is taken at X-Weave-Timestamp) and the header's.
func parsePost(r *response) (*postResult, int64, int64, *failure) {
	hts, f := checkBasics(r, 200, "application/json")
	if f != nil {
		return nil, 0, 0, f
	}
	var res postResult
	if err := json.Unmarshal(r.body, &res); err != nil {
		if json.Valid(r.body) {
			return nil, 0, 0, fail(kindBadShape, "POST answer: %v", err)
		}
		return nil, 0, 0, fail(kindBadJSON, "%v", err)
	}
	if res.Success == nil || res.FailedRaw == nil {
		return nil, 0, 0, fail(kindBadShape, "POST answer lacks success or failed: %.200q", r.body)
	}
	switch {
	case isEmptyArray(res.FailedRaw) && r.tolerate(quirkEmptyArray):
		res.Failed = map[string][]string{}
	default:
		if err := json.Unmarshal(res.FailedRaw, &res.Failed); err != nil || res.Failed == nil {
			return nil, 0, 0, fail(kindBadShape, "POST answer's failed is not an object: %.100q", res.FailedRaw)
		}
	}
	if res.Modified == nil {
		if !r.tolerate(quirkPostNoModified) {
			return nil, 0, 0, fail(kindBadShape, "POST answer lacks modified: %.200q", r.body)
		}
		return &res, hts, hts, nil
	}
	ts, f := jsonTimestamp(r, res.Modified)
	if f != nil {
		return nil, 0, 0, f
	}
	return &res, ts, hts, nil
}

// sameTimestampText checks that a write's body timestamp is the very
// string of X-Weave-Timestamp (docs/protocol.md §3.1). A legacy answer
// without one (FSyncMS's POST) has nothing to compare.
func sameTimestampText(r *response, body []byte) *failure {
	if body == nil && r.quirks&(1<<quirkPostNoModified) != 0 {
		return nil
	}
	h := r.header.Get("X-Weave-Timestamp")
	if string(bytes.TrimSpace(body)) != h {
		return fail(kindTimestampMismatch, "body %.40q, X-Weave-Timestamp %q", bytes.TrimSpace(body), h)
	}
	return nil
}
