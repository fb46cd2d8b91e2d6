package syncstore

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Limits on a single record (PROTOCOL.md §5.1, §9).
const (
	MaxSortIndex       = 999_999_999
	MaxTTL             = 31_536_000
	DefaultMaxPayload  = 262_144
	DefaultMaxRecords  = 100
	DefaultMaxPostSize = 1_048_576
)

// Reasons a record is refused; the strings are the Reference server's, which
// a batch POST reports in "failed" (PROTOCOL.md §5.2).
const (
	ReasonInvalidWBO       = "invalid wbo"
	ReasonInvalidID        = "invalid id"
	ReasonInvalidParentID  = "invalid parentid"
	ReasonInvalidPredID    = "invalid predecessorid"
	ReasonInvalidTTL       = "invalid ttl"
	ReasonInvalidSortIndex = "invalid sortindex"
	ReasonPayloadNotString = "payload not a string"
	ReasonPayloadTooLarge  = "payload too large"
	ReasonRetryWBO         = "retry wbo"
	ReasonRetryBytes       = "retry bytes"
)

// DecodeError says why a record was refused. ID is the record's id when it
// could be read, "" otherwise (batch failures are keyed by it).
type DecodeError struct {
	ID     string
	Reason string
}

func (e *DecodeError) Error() string { return e.Reason }

// DecodeWBO parses one record from its JSON text and validates it with the
// Reference server's rules (PROTOCOL.md §5): the value must be an object
// whose fields are all scalars or null; null means absent; unknown fields
// are dropped; numbers are accepted as ids; "modified" is ignored because
// the server assigns it. maxPayload is the largest payload in bytes.
func DecodeWBO(raw []byte, maxPayload int) (*WBO, *DecodeError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	for _, v := range fields {
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			return nil, &DecodeError{ID: idOf(fields), Reason: ReasonInvalidWBO}
		}
	}
	w := &WBO{}
	id, ok := scalarString(fields["id"])
	if !ok || id == nil || !ValidID(*id) {
		return nil, &DecodeError{ID: idOf(fields), Reason: ReasonInvalidID}
	}
	w.ID = *id
	fail := func(reason string) (*WBO, *DecodeError) {
		return nil, &DecodeError{ID: w.ID, Reason: reason}
	}
	if w.ParentID, ok = scalarString(fields["parentid"]); !ok || (w.ParentID != nil && len(*w.ParentID) > MaxIDLen) {
		return fail(ReasonInvalidParentID)
	}
	if w.PredecessorID, ok = scalarString(fields["predecessorid"]); !ok || (w.PredecessorID != nil && len(*w.PredecessorID) > MaxIDLen) {
		return fail(ReasonInvalidPredID)
	}
	if w.TTL, ok = parseTTL(fields["ttl"]); !ok {
		return fail(ReasonInvalidTTL)
	}
	if w.SortIndex, ok = parseSortIndex(fields["sortindex"]); !ok {
		return fail(ReasonInvalidSortIndex)
	}
	if p := fields["payload"]; !isNull(p) {
		if p[0] != '"' {
			return fail(ReasonPayloadNotString)
		}
		var s string
		if err := json.Unmarshal(p, &s); err != nil {
			return fail(ReasonPayloadNotString)
		}
		if len(s) > maxPayload {
			return fail(ReasonPayloadTooLarge)
		}
		w.Payload = &s
	}
	return w, nil
}

func isNull(v json.RawMessage) bool {
	return len(v) == 0 || string(v) == "null"
}

// idOf recovers a string id for keying a failure, "" when there is none.
func idOf(fields map[string]json.RawMessage) string {
	if s, ok := scalarString(fields["id"]); ok && s != nil && len(*s) <= MaxIDLen {
		return *s
	}
	return ""
}

// scalarString reads a JSON string or number as a string; ok is false for
// booleans and anything else that is not text.
func scalarString(v json.RawMessage) (*string, bool) {
	if isNull(v) {
		return nil, true
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false
		}
		return &s, true
	case c == '-' || (c >= '0' && c <= '9'):
		s := string(v)
		return &s, true
	}
	return nil, false
}

// parseSortIndex accepts an integer, a float (truncated toward zero) or a
// numeric string within ±999 999 999.
func parseSortIndex(v json.RawMessage) (*int64, bool) {
	if isNull(v) {
		return nil, true
	}
	text := string(v)
	if v[0] == '"' {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false
		}
		text = s
	} else if v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return nil, false
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	f = math.Trunc(f)
	if f > MaxSortIndex || f < -MaxSortIndex {
		return nil, false
	}
	n := int64(f)
	return &n, true
}

// parseTTL accepts what Python's int() accepts: an integer, a float
// (truncated) or a string of an integer, within 0 … 31 536 000 seconds.
func parseTTL(v json.RawMessage) (*int64, bool) {
	if isNull(v) {
		return nil, true
	}
	var n int64
	switch c := v[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, false
		}
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, false
		}
		n = i
	case c == '-' || (c >= '0' && c <= '9'):
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > MaxTTL+1 {
			return nil, false
		}
		n = int64(math.Trunc(f))
	default:
		return nil, false
	}
	if n < 0 || n > MaxTTL {
		return nil, false
	}
	return &n, true
}
