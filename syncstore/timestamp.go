package syncstore

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Timestamp is a Sync timestamp in hundredths of a second since the Unix
// epoch. The protocol has 10 ms resolution and clients compare the decimal
// text they receive, so timestamps are kept as integers and never as floats.
type Timestamp int64

// TimestampFromTime truncates t to the protocol's 10 ms resolution.
func TimestampFromTime(t time.Time) Timestamp {
	return Timestamp(t.UnixMilli() / 10)
}

// Time converts ts back to a time.Time.
func (ts Timestamp) Time() time.Time {
	return time.UnixMilli(int64(ts) * 10)
}

// Seconds returns the whole seconds part, for TTL arithmetic.
func (ts Timestamp) Seconds() int64 {
	return int64(ts) / 100
}

// String formats ts with exactly two decimals ("1300000000.50"), the form
// used in X-Weave-Timestamp and in JSON bodies alike.
func (ts Timestamp) String() string {
	// Built on the stack: the string is the only allocation (every
	// response carries one in X-Weave-Timestamp).
	var b [24]byte
	return string(ts.AppendText(b[:0]))
}

// AppendText appends the two-decimal form of ts to dst.
func (ts Timestamp) AppendText(dst []byte) []byte {
	v := int64(ts)
	if v < 0 {
		dst = append(dst, '-')
		v = -v
	}
	dst = strconv.AppendInt(dst, v/100, 10)
	frac := v % 100
	return append(dst, '.', byte('0'+frac/10), byte('0'+frac%10))
}

// MarshalJSON renders ts as a JSON number with two decimals.
func (ts Timestamp) MarshalJSON() ([]byte, error) {
	return ts.AppendText(nil), nil
}

// errBadTimestamp is returned for text that is not a finite decimal number.
var errBadTimestamp = errors.New("not a decimal number of seconds")

// ParseTimestamp reads decimal seconds ("1300000000.5", "1300000000",
// "1.3e9") and rounds them to hundredths, as the protocol's newer, older and
// X-If-Unmodified-Since values require. Decimal text is rounded exactly and
// half to even, as the Reference's round_time (Decimal.quantize) does: a
// float cannot hold 1300000000.0149999999 or tell a tie from a near-tie
// (docs/protocol.md §3.1).
func ParseTimestamp(s string) (Timestamp, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 9e15 {
		return 0, errBadTimestamp
	}
	if cs, ok := decimalCentis(s); ok {
		return Timestamp(cs), nil
	}
	return Timestamp(math.Round(f * 100)), nil
}

// decimalCentis rounds plain decimal text ([+-]digits[.digits][e[+-]digits])
// to hundredths, half to even, exactly. It works on the digits as text,
// in time linear in their number, so a long value costs no more than
// reading it. ok is false for text in other forms (ParseFloat's
// hexadecimal floats), which keep the float's rounding, and for text
// with at most two decimals and no exponent, which the float holds
// exactly (the common case).
func decimalCentis(s string) (cs int64, ok bool) {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mant, exp, hasExp := s, "", false
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp, hasExp = s[:i], s[i+1:], true
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	if !hasExp && len(frac) <= 2 {
		return 0, false
	}
	if !allDigits(intPart) || !allDigits(frac) || intPart+frac == "" {
		return 0, false
	}
	// The value is 0.<digits> × 10^point.
	digits, point := intPart+frac, len(intPart)
	if hasExp {
		e, err := strconv.Atoi(exp)
		if err != nil || e > 1<<20 || e < -(1<<20) {
			return 0, false
		}
		point += e
	}
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	digits, point = digits[lead:], point-lead
	if digits == "" {
		return 0, true
	}
	// Hundredths are the first point+2 digits; the rest decides the
	// rounding.
	keep := point + 2
	if keep < 0 {
		return 0, true // below a thousandth of a second
	}
	var q int64
	for i := 0; i < keep; i++ {
		d := int64(0)
		if i < len(digits) {
			d = int64(digits[i] - '0')
		}
		if q > (math.MaxInt64-d)/10 {
			return 0, false
		}
		q = q*10 + d
	}
	if keep < len(digits) {
		rest := digits[keep:]
		switch {
		case rest[0] > '5':
			q++
		case rest[0] == '5':
			// Half to even: up past half, or at exactly half of an odd
			// quotient.
			if strings.TrimRight(rest[1:], "0") != "" || q%2 == 1 {
				q++
			}
		}
	}
	if neg {
		q = -q
	}
	return q, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
