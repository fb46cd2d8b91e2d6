package syncstore

import (
	"strconv"
	"unicode/utf8"
)

// WBO is a Weave Basic Object. Optional fields are pointers because the
// protocol distinguishes "absent" from a zero value: a PUT merges only the
// fields it carries (docs/protocol.md §6.7).
type WBO struct {
	ID            string
	Modified      Timestamp // set by the store; ignored on input
	SortIndex     *int64
	Payload       *string
	ParentID      *string
	PredecessorID *string
	// TTL is the lifetime in seconds given on input. It is never output;
	// stores keep an absolute expiry instead.
	TTL *int64
}

// PayloadSize is the stored size of the payload in bytes (docs/protocol.md §5.3).
func (w *WBO) PayloadSize() int64 {
	if w.Payload == nil {
		return 0
	}
	return int64(len(*w.Payload))
}

// AppendJSON appends the wire form of w: id, modified, sortindex, payload,
// parentid and predecessorid, each omitted when absent. TTL is never output.
func (w *WBO) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, w.ID)
	dst = append(dst, `,"modified":`...)
	dst = w.Modified.AppendText(dst)
	if w.SortIndex != nil {
		dst = append(dst, `,"sortindex":`...)
		dst = strconv.AppendInt(dst, *w.SortIndex, 10)
	}
	if w.Payload != nil {
		dst = append(dst, `,"payload":`...)
		dst = AppendJSONString(dst, *w.Payload)
	}
	if w.ParentID != nil {
		dst = append(dst, `,"parentid":`...)
		dst = AppendJSONString(dst, *w.ParentID)
	}
	if w.PredecessorID != nil {
		dst = append(dst, `,"predecessorid":`...)
		dst = AppendJSONString(dst, *w.PredecessorID)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string. Unlike encoding/json it does
// not escape <, > and &, so payloads go out as they came in; invalid UTF-8
// (possible in rows imported from latin1 legacy tables) becomes U+FFFD, as
// encoding/json does, so the output is always valid JSON.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers that
		// treat the body as script; escape them as encoding/json does.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
