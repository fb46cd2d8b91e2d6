package bench

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
)

// Limits the generated records keep within, so a correct server accepts
// every record (docs/protocol.md §9): a payload below 256 KiB and a batch below
// 1 MiB of payload.
const (
	maxPayloadBytes = 262_144 - 1
	maxBatchPayload = 1_000_000
)

// seedShares splits a user's records over the bench collections roughly
// as a desktop profile does: history dominates, then bookmarks.
var seedShares = []struct {
	collection string
	share      float64
}{
	{"history", 0.55}, {"bookmarks", 0.25}, {"forms", 0.15}, {"passwords", 0.04}, {"prefs", 0.01},
}

// collCount is a number of records in one collection.
type collCount struct {
	collection string
	count      int
}

// seedLayout splits n records over the collections, largest share first;
// rounding leftovers go to history.
func seedLayout(n int) []collCount {
	out := make([]collCount, len(seedShares))
	left := n
	for i := len(seedShares) - 1; i >= 0; i-- {
		s := seedShares[i]
		c := int(math.Round(float64(n) * s.share))
		if i == 0 {
			c = left
		}
		c = min(c, left)
		out[i] = collCount{s.collection, c}
		left -= c
	}
	return out
}

// seedID is the id of a user's i-th seeded record of a collection: 12
// base64url characters, as Firefox generates, derived so a later run finds
// the same ids.
func seedID(user, collection string, i int) string {
	h := sha256.New()
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(collection))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, int64(i), 10))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:9])
}

// newID draws a fresh record id.
func newID(r *rand.Rand) string {
	var b [9]byte
	binary.LittleEndian.PutUint64(b[:8], r.Uint64())
	b[8] = byte(r.Uint32())
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// seedRand is the generator of one user's seeded collection, independent
// of --seed so the data set only depends on its size.
func seedRand(user, collection string) *rand.Rand {
	sum := sha256.Sum256([]byte("seed\x00" + user + "\x00" + collection))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

// payloadSize draws a heavy-tailed size: Pareto with shape 3 and scale
// 300 bytes (minimum 300, mean 450), the shape Mozilla's load tests used.
func payloadSize(r *rand.Rand) int {
	u := 1 - r.Float64() // (0, 1]
	return min(int(300/math.Cbrt(u)), maxPayloadBytes)
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func appendRandom(dst []byte, r *rand.Rand, n int, alphabet string) []byte {
	for n > 0 {
		x := r.Uint64()
		for k := 0; k < 10 && n > 0; k++ {
			dst = append(dst, alphabet[(x&63)%uint64(len(alphabet))])
			x >>= 6
			n--
		}
	}
	return dst
}

// payloadOverhead is the length of an encrypted record's envelope around
// its ciphertext: {"ciphertext":"…","IV":"<24>","hmac":"<64>"}.
const payloadOverhead = len(`{"ciphertext":"","IV":"","hmac":""}`) + 24 + 64

// appendPayload appends a payload of exactly n bytes that looks like a
// Sync storage-format-5 record: an encrypted envelope, as clients upload.
func appendPayload(dst []byte, r *rand.Rand, n int) []byte {
	if n <= payloadOverhead {
		return appendRandom(dst, r, n, b64chars)
	}
	dst = append(dst, `{"ciphertext":"`...)
	dst = appendRandom(dst, r, n-payloadOverhead, b64chars)
	dst = append(dst, `","IV":"`...)
	dst = appendRandom(dst, r, 24, b64chars)
	dst = append(dst, `","hmac":"`...)
	dst = appendRandom(dst, r, 64, "0123456789abcdef")
	return append(dst, `"}`...)
}

// appendJSONString appends s as a JSON string. Generated payloads hold
// only printable ASCII, so quotes and backslashes are all that need escaping.
func appendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// FNV-1a, 64 bits: a cheap fingerprint to recognise a payload read back.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func checksum[T string | []byte](b T) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(b); i++ {
		h = (h ^ uint64(b[i])) * fnvPrime
	}
	return h
}

// sentRecord is what a client remembers of a record it uploaded.
type sentRecord struct {
	id  string
	sum uint64
}

// batchBuilder builds the JSON array body of a POST.
type batchBuilder struct {
	body    []byte
	payload []byte
	records []sentRecord
	bytes   int
}

func (b *batchBuilder) reset() {
	b.body = append(b.body[:0], '[')
	b.records = b.records[:0]
	b.bytes = 0
}

// add appends one record with a payload of about size bytes (less when the
// batch would pass its payload limit), with a sortindex half of the time
// as bookmarks and history records carry one.
func (b *batchBuilder) add(r *rand.Rand, id string, size int) {
	size = max(min(size, maxBatchPayload-b.bytes), 1)
	b.payload = appendPayload(b.payload[:0], r, size)
	sortIndex := -1
	if r.IntN(2) == 0 {
		sortIndex = r.IntN(2000)
	}
	b.addRaw(id, b.payload, sortIndex)
}

// addRaw appends a record with the given payload; sortIndex < 0 means none.
func (b *batchBuilder) addRaw(id string, payload []byte, sortIndex int) {
	if len(b.records) > 0 {
		b.body = append(b.body, ',')
	}
	b.body = append(b.body, `{"id":`...)
	b.body = appendJSONString(b.body, id)
	if sortIndex >= 0 {
		b.body = append(b.body, `,"sortindex":`...)
		b.body = strconv.AppendInt(b.body, int64(sortIndex), 10)
	}
	b.body = append(b.body, `,"payload":`...)
	b.body = appendJSONString(b.body, payload)
	b.body = append(b.body, '}')
	b.records = append(b.records, sentRecord{id: id, sum: checksum(payload)})
	b.bytes += len(payload)
}

func (b *batchBuilder) finish() []byte {
	return append(b.body, ']')
}
