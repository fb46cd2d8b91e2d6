package syncstore

import "testing"

// docs/protocol.md §3.1, §4.2 and §6.5: newer, older and
// X-If-Unmodified-Since are rounded to hundredths as the Reference's
// round_time does, exactly on the decimal text and half to even, not
// through a float (1300000000.125 is exactly halfway in binary too, and a
// float rounding sends it up).
func TestParseTimestampRoundsDecimalHalfEven(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Timestamp
	}{
		{"1300000000.125", 130000000012},
		{"1300000000.135", 130000000014},
		{"1300000000.005", 130000000000},
		{"1300000000.015", 130000000002},
		{"1300000000.0151", 130000000002},
		{"1300000000.0149999999", 130000000001},
		{"1300000000.1250000000000000000001", 130000000013},
		{"1.3000000000125e9", 130000000001},
		{"13000000001.25e-1", 130000000012},
		{"0.125e1", 125},
		{"-1.005", -100},
		{"-1.015", -102},
		{"+2.5e-2", 2},
		{"1300000000.50", 130000000050},
		{"1300000000", 130000000000},
		{"1.3e9", 130000000000},
		{".125", 12},
		{"5.", 500},
	} {
		got, err := ParseTimestamp(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseTimestamp(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}
