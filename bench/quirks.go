package bench

import "math/bits"

// quirk is a documented deviation of the legacy PHP servers from the
// protocol (docs/legacy.md §1.4 and §4). On a target declared legacy (a legacy
// server, or the shim that passes its answers through untouched) a quirk
// is counted as information, since clients have lived with it for years;
// the same answer from a native target is wrong and counts as an error.
type quirk uint8

const (
	// quirkTimestampDigits: PHP floats drop trailing zeros (1795773375.6),
	// where the protocol wants exactly two decimals.
	quirkTimestampDigits quirk = iota
	// quirkEmptyArray: an empty object comes as a JSON array, as
	// info/collections → [] and "failed":[].
	quirkEmptyArray
	// quirkPostNoModified: FSyncMS's POST answer has no "modified"; the
	// write's timestamp is X-Weave-Timestamp.
	quirkPostNoModified
	// quirkNoRecordsHeader: X-Weave-Records only on collection GETs that
	// return something.
	quirkNoRecordsHeader
	// quirkRepeatedTimestamp: FSyncMS stamps a write with the clock's
	// 10 ms tick, round(microtime(true), 2) (docs/legacy.md §1.2), never moving
	// past the user's previous write as the protocol's servers do, so two
	// writes within one tick share a timestamp. A timestamp going back
	// stays an error.
	quirkRepeatedTimestamp
	numQuirks
)

var quirkNames = [numQuirks]string{
	quirkTimestampDigits:   "timestamp-without-two-decimals",
	quirkEmptyArray:        "empty-object-as-array",
	quirkPostNoModified:    "post-without-modified",
	quirkNoRecordsHeader:   "no-x-weave-records",
	quirkRepeatedTimestamp: "write-timestamp-repeated",
}

func (q quirk) String() string { return quirkNames[q] }

// quirkSet is the quirks one answer showed.
type quirkSet uint8

func (s quirkSet) each(fn func(quirk)) {
	for s != 0 {
		q := quirk(bits.TrailingZeros8(uint8(s)))
		fn(q)
		s &^= 1 << q
	}
}

// tolerate reports whether the answer may show quirk q: on a legacy
// target it may, and the quirk is noted; on a native target it may not,
// and the caller reports the answer as wrong.
func (r *response) tolerate(q quirk) bool {
	if !r.legacy {
		return false
	}
	r.quirks |= 1 << q
	return true
}

// twoDecimals reports whether a timestamp's text has exactly two decimals,
// as the protocol formats them (docs/protocol.md §3.1: "%d.%02d").
func twoDecimals(s string) bool {
	n := len(s)
	if n < 4 || s[n-3] != '.' {
		return false
	}
	for i := 0; i < n; i++ {
		if c := s[i]; i != n-3 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// checkTimestampText checks a timestamp's text (header or JSON number)
// for the protocol's two decimals.
func checkTimestampText(r *response, what, s string) *failure {
	if twoDecimals(s) || r.tolerate(quirkTimestampDigits) {
		return nil
	}
	return fail(kindTimestampFormat, "%s %.40q does not have two decimals", what, s)
}

// checkIncreasing checks that a write's timestamp ts is above the user's
// previous write's, prev.
func checkIncreasing(r *response, what string, ts, prev int64) *failure {
	if ts > prev || ts == prev && r.tolerate(quirkRepeatedTimestamp) {
		return nil
	}
	return fail(kindNotIncreasing, "%s at %s after a write at %s", what, formatTS(ts), formatTS(prev))
}
