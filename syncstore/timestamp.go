package syncstore

import (
	"errors"
	"math"
	"strconv"
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
// X-If-Unmodified-Since values require.
func ParseTimestamp(s string) (Timestamp, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 9e15 {
		return 0, errBadTimestamp
	}
	return Timestamp(math.Round(f * 100)), nil
}
