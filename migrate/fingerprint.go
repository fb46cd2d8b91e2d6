package migrate

import (
	"hash/crc32"

	"github.com/syncserver/syncserver/syncstore"
)

// A fingerprint is what the delta copy compares per legacy row while the
// user is unavailable: the row's metadata exactly (modified, sortindex,
// parentid, predecessorid) and its payload by length and CRC-32. The legacy database
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
//
// The fields are compared as they are, not through a digest: the
// fingerprints the bulk copy keeps and the ones the delta scan reads
// cost no hashing (two SHA-256 per record before), and the strings are
// the ones the record already holds. Collection and id are not part of
// it: the delta finds a row's fingerprint by them.
type fingerprint struct {
	modified      syncstore.Timestamp
	sortIndex     int64
	parentID      string
	predecessorID string
	// length and crc are the payload check: LENGTH and CRC32 (the IEEE
	// CRC-32 of the stored bytes), valid when has says so.
	length int64
	crc    uint32
	has    fingerprintFields
}

// fingerprintFields says which of a fingerprint's nullable fields are
// set, so that NULL stays apart from 0 and "".
type fingerprintFields uint8

const (
	hasSortIndex fingerprintFields = 1 << iota
	hasParentID
	hasPredecessorID
	hasPayload
)

// recordFingerprint computes r's fingerprint from the record as read, as
// the legacy readers' fingerprint queries do from the stored row: CRC32()
// is the IEEE CRC-32 of the stored bytes, which the readers return
// unconverted (CAST … AS BINARY).
func recordFingerprint(r *syncstore.StoredRecord) fingerprint {
	var length, crc *int64
	if r.Payload != nil {
		l, c := int64(len(*r.Payload)), int64(crc32.ChecksumIEEE(stringBytes(*r.Payload)))
		length, crc = &l, &c
	}
	return fingerprintOf(r.Modified, r.SortIndex, r.ParentID, r.PredecessorID, length, crc)
}

// fingerprintOf is a fingerprint from a fingerprint query's columns; the
// payload check is set when both LENGTH and CRC32 are (a NULL payload has
// neither).
func fingerprintOf(modified syncstore.Timestamp, sortIndex *int64, parentID, predecessorID *string, length, crc *int64) fingerprint {
	fp := fingerprint{modified: modified}
	if sortIndex != nil {
		fp.sortIndex = *sortIndex
		fp.has |= hasSortIndex
	}
	if parentID != nil {
		fp.parentID = *parentID
		fp.has |= hasParentID
	}
	if predecessorID != nil {
		fp.predecessorID = *predecessorID
		fp.has |= hasPredecessorID
	}
	if length != nil && crc != nil {
		fp.length, fp.crc = *length, uint32(*crc)
		fp.has |= hasPayload
	}
	return fp
}
