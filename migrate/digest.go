package migrate

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"unsafe"

	"github.com/syncserver/syncserver/syncstore"
)

// Digest identifies a record's content: a SHA-256 over the collection, id,
// modified, sortindex, parentid, predecessorid and the SHA-256 of the
// payload. Expiry is not part of it (legacy stores have none).
type Digest [sha256.Size]byte

// RecordDigest is what the copy and the verification compare per record
// without holding payloads in memory.
type RecordDigest struct {
	ID       string
	Modified syncstore.Timestamp
	Size     int64 // payload bytes
	Sum      Digest
}

// digester computes record digests; it keeps its hash state between calls
// so digesting thousands of records allocates nothing per record.
type digester struct {
	h   hash.Hash
	buf []byte
	// sum receives the hash: through the hash.Hash interface a local
	// array would escape, an allocation per record.
	sum Digest
}

func newDigester() *digester {
	return &digester{h: sha256.New(), buf: make([]byte, 0, 256)}
}

// payloadSum hashes a payload; nil for a NULL payload.
func payloadSum(p *string) *Digest {
	if p == nil {
		return nil
	}
	s := Digest(sha256.Sum256(stringBytes(*p))) // #nosec: content check, not a secret
	return &s
}

// stringBytes is s's bytes without a copy, for the hashes that only read
// them: a []byte(s) conversion copied every payload the copy, the delta
// and the verification hash (about a fifth of the migrator's CPU with the
// garbage it made). The slice must never be written to.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// record digests r whose payload hash is already known (the legacy
// database computes it with SHA2() so payloads need not be transferred).
func (d *digester) record(collection, id string, modified syncstore.Timestamp, sortIndex *int64, parentID, predecessorID *string, payload *Digest) Digest {
	b := d.buf[:0]
	b = appendField(b, collection)
	b = appendField(b, id)
	b = binary.BigEndian.AppendUint64(b, uint64(modified))
	if sortIndex == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(*sortIndex))
	}
	b = appendOptField(b, parentID)
	b = appendOptField(b, predecessorID)
	if payload == nil {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = append(b, payload[:]...)
	}
	d.buf = b
	d.h.Reset()
	d.h.Write(b)
	d.h.Sum(d.sum[:0])
	return d.sum
}

// full digests a complete record, hashing its payload.
func (d *digester) full(collection string, r *syncstore.StoredRecord) RecordDigest {
	// Hashed here rather than by payloadSum, whose returned pointer would
	// put the sum on the heap.
	var sum Digest
	var ps *Digest
	if r.Payload != nil {
		sum = sha256.Sum256(stringBytes(*r.Payload)) // #nosec: content check, not a secret
		ps = &sum
	}
	return RecordDigest{
		ID:       r.ID,
		Modified: r.Modified,
		Size:     r.PayloadSize(),
		Sum:      d.record(collection, r.ID, r.Modified, r.SortIndex, r.ParentID, r.PredecessorID, ps),
	}
}

func appendField(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendOptField(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendField(b, *s)
}
