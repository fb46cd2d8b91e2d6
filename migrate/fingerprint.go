package migrate

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/syncserver/syncserver/syncstore"
)

// A fingerprint is what the delta copy compares per legacy row while the
// user is unavailable: the row's metadata exactly (collection, id,
// modified, sortindex, parentid, predecessorid, through the same digest
// as Digest) and its payload by length and CRC-32. The legacy database
// computes the payload part with LENGTH() and CRC32(), which cost it a
// fraction of SHA2() and need no payload sent; the bulk copy computes it
// in Go from the rows it already read, so the in-window scan reads each
// row once and hashes nothing cryptographically.
//
// A change is missed only if it keeps every metadata column, the payload
// length and its CRC-32: a PHP payload write always sets modified to the
// request's time (docs/legacy.md §1.2), so that needs a same-length
// overwrite within the same 10 ms tick as the row's previous write whose
// CRC-32 also matches (a 2^-32 chance for such a race). Metadata-only
// updates that keep modified (a sortindex change, docs/legacy.md §4.1) are
// compared exactly. The records the delta copies, and the checksums the
// verification compares, are still full SHA-256 digests.
type fingerprint = Digest

// payloadCheck is the payload part of a fingerprint (a NULL payload has
// none: LENGTH and CRC32 of NULL are NULL). A value, not a pointer, so it
// stays off the heap.
func payloadCheck(length int64, crc uint32) Digest {
	var d Digest
	binary.BigEndian.PutUint64(d[:8], uint64(length))
	binary.BigEndian.PutUint32(d[8:12], crc)
	return d
}

// fingerprint computes r's fingerprint from the record as read, as the
// legacy readers' fingerprint queries do from the stored row: CRC32() is
// the IEEE CRC-32 of the stored bytes, which the readers return
// unconverted (CAST … AS BINARY).
func (d *digester) fingerprint(collection string, r *syncstore.StoredRecord) fingerprint {
	var check Digest
	var pc *Digest
	if r.Payload != nil {
		check = payloadCheck(int64(len(*r.Payload)), crc32.ChecksumIEEE(stringBytes(*r.Payload)))
		pc = &check
	}
	return d.record(collection, r.ID, r.Modified, r.SortIndex, r.ParentID, r.PredecessorID, pc)
}

// fingerprintOf is fingerprint from a fingerprint query's columns.
func (d *digester) fingerprintOf(collection, id string, modified syncstore.Timestamp, sortIndex *int64, parentID, predecessorID *string,
	length, crc *int64) fingerprint {
	var check Digest
	var pc *Digest
	if length != nil && crc != nil {
		check = payloadCheck(*length, uint32(*crc))
		pc = &check
	}
	return d.record(collection, id, modified, sortIndex, parentID, predecessorID, pc)
}
