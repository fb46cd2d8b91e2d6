package legacytest

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The stand-in must answer byte for byte what FSyncMS's PHP answers, so
// the PHP conversions it leans on (truthiness, is_numeric, casts, float
// printing, json_encode's escaping) are reproduced here.

// truthy is PHP's boolean value of a string: "" and "0" are false.
func truthy(s string) bool { return s != "" && s != "0" }

// numericRE is PHP 8's is_numeric for strings (surrounding whitespace allowed).
var numericRE = regexp.MustCompile(`^[ \t\n\r\v\f]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\v\f]*$`)

// numeric parses s when PHP's is_numeric accepts it.
func numeric(s string) (float64, bool) {
	if !numericRE.MatchString(s) {
		return 0, false
	}
	// Out-of-range values stay numeric in PHP (INF or 0), as ParseFloat
	// returns them alongside its range error.
	f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
	return f, true
}

// phpRound is PHP's round($f, 2).
func phpRound(f float64) float64 { return math.Round(f*100) / 100 }

// phpIntOfFloat is (int)$f for the values a WBO can carry; beyond int64
// PHP wraps around, which only ever yields an invalid sortindex here.
func phpIntOfFloat(f float64) int64 {
	if math.IsNaN(f) || math.Abs(f) >= 9.2e18 {
		return math.MaxInt64
	}
	return int64(f)
}

// phpFloat is PHP's float-to-string with the given significant digits
// (-1: shortest round trip, json_encode's serialize_precision; 14:
// (string)$f and header()'s precision). The exponent form PHP uses
// outside 1e-4..1e15 is left out: no Sync value gets there.
func phpFloat(f float64, digits int) string {
	if digits > 0 {
		f, _ = strconv.ParseFloat(strconv.FormatFloat(f, 'g', digits, 64), 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// phpString is PHP's (string) cast of a json_decode'd value.
func phpString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		if i, ok := jsonInt(x); ok {
			return strconv.FormatInt(i, 10)
		}
		f, _ := x.Float64()
		return phpFloat(f, 14)
	case bool:
		if x {
			return "1"
		}
		return ""
	case nil:
		return ""
	}
	return "Array"
}

// jsonInt reports whether json_decode makes n an int (an integer literal
// within range) rather than a float.
func jsonInt(n json.Number) (int64, bool) {
	if strings.ContainsAny(string(n), ".eE") {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	return i, err == nil
}

// phpNumeric is is_numeric on a json_decode'd value.
func phpNumeric(v any) bool {
	switch x := v.(type) {
	case json.Number:
		return true
	case string:
		_, ok := numeric(x)
		return ok
	}
	return false
}

// phpInt is (int) of a value phpNumeric accepted.
func phpInt(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		if i, ok := jsonInt(x); ok {
			return i
		}
		f, _ := x.Float64()
		return phpIntOfFloat(f)
	case string:
		f, _ := numeric(x)
		return phpIntOfFloat(f)
	}
	return 0
}

// fixUTF8 is FSyncMS's fix_utf8_encoding: text that is not UTF-8 is taken
// as ISO-8859-1 and converted.
func fixUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	out := make([]byte, 0, len(b)*2)
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// decodeJSON is json_decode($s, true): ok is false where PHP returns null
// for a syntax error.
func decodeJSON(b []byte) (v any, ok bool) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false
	}
	return v, true
}

// jsonString appends s as json_encode writes it by default: "/" escaped,
// non-ASCII as lower-case \u escapes. ok is false for invalid UTF-8,
// where json_encode fails.
func jsonString(b []byte, s string) (out []byte, ok bool) {
	const hex = "0123456789abcdef"
	if !utf8.ValidString(s) {
		return b, false
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '/':
			b = append(b, '\\', byte(r))
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x20 || (r >= 0x80 && r < 0x10000):
			b = append(b, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
		case r >= 0x10000:
			r -= 0x10000
			hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
			b = append(b, '\\', 'u', hex[hi>>12&15], hex[hi>>8&15], hex[hi>>4&15], hex[hi&15])
			b = append(b, '\\', 'u', hex[lo>>12&15], hex[lo>>8&15], hex[lo>>4&15], hex[lo&15])
		default:
			b = append(b, byte(r))
		}
	}
	return append(b, '"'), true
}

// phpArray is an ordered PHP array of encoded values, as json_encode sees
// it: a list when its keys are exactly 0..n-1, else an object.
type phpArray struct {
	keys []string
	vals [][]byte
	at   map[string]int
}

// set assigns like $a[$k] = $v: a repeated key keeps its first place.
func (a *phpArray) set(k string, v []byte) {
	if a.at == nil {
		a.at = map[string]int{}
	}
	if i, ok := a.at[k]; ok {
		a.vals[i] = v
		return
	}
	a.at[k] = len(a.keys)
	a.keys = append(a.keys, k)
	a.vals = append(a.vals, v)
}

func (a *phpArray) appendJSON(b []byte) []byte {
	list := true
	for i, k := range a.keys {
		if k != strconv.Itoa(i) {
			list = false
			break
		}
	}
	if list {
		b = append(b, '[')
		for i, v := range a.vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, v...)
		}
		return append(b, ']')
	}
	b = append(b, '{')
	for i, k := range a.keys {
		if i > 0 {
			b = append(b, ',')
		}
		b, _ = jsonString(b, k)
		b = append(b, ':')
		b = append(b, a.vals[i]...)
	}
	return append(b, '}')
}

// jsonValue encodes a string, int64 or float64 as json_encode does; nil
// when json_encode would fail.
func jsonValue(v any) []byte {
	switch x := v.(type) {
	case string:
		b, ok := jsonString(nil, x)
		if !ok {
			return nil
		}
		return b
	case int:
		return strconv.AppendInt(nil, int64(x), 10)
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case float64:
		return []byte(phpFloat(x, -1))
	}
	panic("jsonValue: unsupported type")
}
