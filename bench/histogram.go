package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power-of-two range of
// microseconds is split into 2^subBits buckets, so a recorded value is
// reported within 1/128 (< 0.8 %) of itself — the precision of an HDR
// histogram with two significant digits, in constant memory, which is what
// no sorted-sample approach gives for long runs.
const (
	subBits    = 7
	subBuckets = 1 << subBits
)

// Histogram counts latencies in log-linear microsecond buckets. The zero
// value is ready to use; it is not safe for concurrent use.
type Histogram struct {
	counts []uint64
	n      uint64
	sumUS  uint64
	maxUS  uint64
}

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	top := us >> shift // in [subBuckets, 2*subBuckets)
	return subBuckets*(shift+1) + int(top-subBuckets)
}

// bucketMid is the value reported for bucket i: the middle of its range.
func bucketMid(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	top := uint64(i%subBuckets + subBuckets)
	low := top << shift
	high := (top+1)<<shift - 1
	return low + (high-low)/2
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	i := bucketOf(us)
	if i >= len(h.counts) {
		grown := make([]uint64, i+1+subBuckets)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	h.n++
	h.sumUS += us
	h.maxUS = max(h.maxUS, us)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(h.counts) {
		grown := make([]uint64, len(o.counts))
		copy(grown, h.counts)
		h.counts = grown
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sumUS += o.sumUS
	h.maxUS = max(h.maxUS, o.maxUS)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.n }

// Quantile returns the value at quantile q (0 < q ≤ 1) with the nearest-rank
// rule, 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			// The top bucket's midpoint may exceed the real maximum.
			return time.Duration(min(bucketMid(i), h.maxUS)) * time.Microsecond
		}
	}
	return time.Duration(h.maxUS) * time.Microsecond
}

// Mean is the exact arithmetic mean.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sumUS/h.n) * time.Microsecond
}

// Max is the largest recorded value.
func (h *Histogram) Max() time.Duration {
	return time.Duration(h.maxUS) * time.Microsecond
}
