package syncstore

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on a single record (docs/protocol.md §5.1, §9).
const (
	MaxSortIndex       = 999_999_999
	MaxTTL             = 31_536_000
	DefaultMaxPayload  = 262_144
	DefaultMaxRecords  = 100
	DefaultMaxPostSize = 1_048_576
)

// Reasons a record is refused; the strings are the Reference server's, which
// a batch POST reports in "failed" (docs/protocol.md §5.2).
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
// Reference server's rules (docs/protocol.md §5): the value must be an object
// whose fields are all scalars or null; null means absent; unknown fields
// are dropped; numbers are accepted as ids; "modified" is ignored because
// the server assigns it. maxPayload is the largest payload in bytes.
//
// It is on the upload hot path (100 records per POST), so it scans the
// object itself instead of decoding it into a map.
func DecodeWBO(raw []byte, maxPayload int) (*WBO, *DecodeError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' || !json.Valid(raw) {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	return decodeValid(raw, maxPayload)
}

// DecodeValidWBO is DecodeWBO for raw that is already known to be valid
// JSON text, such as an element of a request body that json.Valid
// accepted: an upload is validated once, not once per record. On text
// that is not valid JSON its answers are undefined.
func DecodeValidWBO(raw []byte, maxPayload int) (*WBO, *DecodeError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	return decodeValid(raw, maxPayload)
}

// DecodeValidItem decodes the body of a PUT of the record id (docs/protocol.md
// §6.7), raw being valid JSON text as for DecodeValidWBO. The URL's id is
// authoritative: an id in the body must be absent, null or the same id (a
// number counts as its text), otherwise the record fails with "invalid
// id". It answers as DecodeWBO would for the body with "id":id appended
// as its last member.
func DecodeValidItem(raw []byte, id string, maxPayload int) (*WBO, *DecodeError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) < 2 || raw[0] != '{' {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	var f wboFields
	if !f.scan(raw) {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	if slices.Contains(f.nested, "id") {
		return nil, &DecodeError{Reason: ReasonInvalidID}
	}
	if !isNull(f.id) {
		bodyID, ok := scalarString(f.id)
		if !ok || bodyID == nil || *bodyID != id {
			return nil, &DecodeError{ID: idOf(f.id), Reason: ReasonInvalidID}
		}
	}
	f.id = AppendJSONString(nil, id)
	return f.decode(maxPayload)
}

// decodeValid decodes and validates raw, valid JSON text starting with '{'.
func decodeValid(raw []byte, maxPayload int) (*WBO, *DecodeError) {
	var f wboFields
	if !f.scan(raw) {
		return nil, &DecodeError{Reason: ReasonInvalidWBO}
	}
	return f.decode(maxPayload)
}

// decode checks the scanned fields with the Reference's rules and builds
// the record.
func (f *wboFields) decode(maxPayload int) (*WBO, *DecodeError) {
	if len(f.nested) > 0 {
		return nil, &DecodeError{ID: idOf(f.id), Reason: ReasonInvalidWBO}
	}
	w := &WBO{}
	id, ok := scalarString(f.id)
	if !ok || id == nil || !ValidID(*id) {
		return nil, &DecodeError{ID: idOf(f.id), Reason: ReasonInvalidID}
	}
	w.ID = *id
	fail := func(reason string) (*WBO, *DecodeError) {
		return nil, &DecodeError{ID: w.ID, Reason: reason}
	}
	if w.ParentID, ok = scalarString(f.parentID); !ok || (w.ParentID != nil && len(*w.ParentID) > MaxIDLen) {
		return fail(ReasonInvalidParentID)
	}
	if w.PredecessorID, ok = scalarString(f.predecessorID); !ok || (w.PredecessorID != nil && len(*w.PredecessorID) > MaxIDLen) {
		return fail(ReasonInvalidPredID)
	}
	if w.TTL, ok = parseTTL(f.ttl); !ok {
		return fail(ReasonInvalidTTL)
	}
	if w.SortIndex, ok = parseSortIndex(f.sortIndex); !ok {
		return fail(ReasonInvalidSortIndex)
	}
	if p := f.payload; !isNull(p) {
		if p[0] != '"' {
			return fail(ReasonPayloadNotString)
		}
		s, ok := jsonString(p)
		if !ok {
			return fail(ReasonPayloadNotString)
		}
		if len(s) > maxPayload {
			return fail(ReasonPayloadTooLarge)
		}
		w.Payload = &s
	}
	return w, nil
}

// wboFields holds the raw JSON values of the fields a WBO reads; fields
// that are absent stay nil.
type wboFields struct {
	id, parentID, predecessorID, ttl, sortIndex, payload []byte
	// nested lists the keys whose (last) value is an object or array:
	// the record is then invalid, but its id is still read to key the
	// failure.
	nested []string
}

// scan fills f from raw, which must be valid JSON text of an object; it
// reports false only on text it cannot follow. Later duplicates of a key
// win, as they do with encoding/json.
func (f *wboFields) scan(raw []byte) bool {
	i := skipJSONSpace(raw, 1)
	for i < len(raw) && raw[i] == '"' {
		end := skipJSONString(raw, i)
		key := raw[i+1 : end]
		if bytes.IndexByte(key, '\\') >= 0 {
			k, ok := jsonString(raw[i : end+1])
			if !ok {
				return false
			}
			key = []byte(k)
		}
		i = skipJSONSpace(raw, end+1) + 1 // past ':'
		i = skipJSONSpace(raw, i)
		if i >= len(raw) {
			return false
		}
		start := i
		switch raw[i] {
		case '"':
			i = skipJSONString(raw, i) + 1
		case '{', '[':
			f.nested = append(f.nested, string(key))
			i = skipJSONSpace(raw, skipJSONComposite(raw, i))
			if i < len(raw) && raw[i] == ',' {
				i = skipJSONSpace(raw, i+1)
			}
			continue
		default:
			for i < len(raw) && raw[i] != ',' && raw[i] != '}' && !isJSONSpace(raw[i]) {
				i++
			}
		}
		val := raw[start:i]
		if len(f.nested) > 0 {
			f.nested = slices.DeleteFunc(f.nested, func(k string) bool { return k == string(key) })
		}
		switch string(key) {
		case "id":
			f.id = val
		case "parentid":
			f.parentID = val
		case "predecessorid":
			f.predecessorID = val
		case "ttl":
			f.ttl = val
		case "sortindex":
			f.sortIndex = val
		case "payload":
			f.payload = val
		}
		i = skipJSONSpace(raw, i)
		if i < len(raw) && raw[i] == ',' {
			i = skipJSONSpace(raw, i+1)
		}
	}
	return true
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// skipJSONComposite returns the index just past the object or array
// starting at b[i].
func skipJSONComposite(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = skipJSONString(b, i)
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return i
}

// skipJSONString returns the index of the closing quote of the string
// starting at b[i].
func skipJSONString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(b) - 1
}

// jsonString decodes a JSON string literal taken from valid JSON text;
// the common case without escapes and with valid UTF-8 is a plain copy.
func jsonString(lit []byte) (string, bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	body := lit[1 : len(lit)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true
	}
	return unquote(body)
}

// unquote decodes the inside of a valid JSON string literal exactly as
// encoding/json does, without its reflection and second validation pass
// (Sync payloads are JSON inside JSON, so nearly every one has escapes):
// invalid UTF-8 bytes and unpaired surrogate escapes become U+FFFD. ok is
// false only for text no valid literal holds.
func unquote(body []byte) (string, bool) {
	b := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		switch {
		case c == '\\':
			if i+1 >= len(body) {
				return "", false
			}
			switch body[i+1] {
			case '"', '\\', '/':
				b = append(b, body[i+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r := hex4(body[i+2:])
				if r < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(body) && body[i] == '\\' && body[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, hex4(body[i+2:])); dec != unicode.ReplacementChar {
							b = utf8.AppendRune(b, dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c < 0x20 || c == '"':
			return "", false
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, unicode.ReplacementChar)
			} else {
				b = append(b, body[i:i+size]...)
			}
			i += size
		}
	}
	return string(b), true
}

// hex4 reads the four hex digits of a \u escape, -1 if there are none.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func isNull(v []byte) bool {
	return len(v) == 0 || string(v) == "null"
}

// idOf recovers a string id for keying a failure, "" when there is none.
// An id that is too long or holds forbidden characters is still the key:
// it is how the client tells which of its records was refused.
func idOf(raw []byte) string {
	if s, ok := scalarString(raw); ok && s != nil {
		return *s
	}
	return ""
}

// scalarString reads a JSON string or number as a string; ok is false for
// booleans and anything else that is not text.
func scalarString(v []byte) (*string, bool) {
	if isNull(v) {
		return nil, true
	}
	switch c := v[0]; {
	case c == '"':
		s, ok := jsonString(v)
		if !ok {
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
func parseSortIndex(v []byte) (*int64, bool) {
	if isNull(v) {
		return nil, true
	}
	text := string(v)
	if v[0] == '"' {
		s, ok := jsonString(v)
		if !ok {
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
func parseTTL(v []byte) (*int64, bool) {
	if isNull(v) {
		return nil, true
	}
	var n int64
	switch c := v[0]; {
	case c == '"':
		s, ok := jsonString(v)
		if !ok {
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
