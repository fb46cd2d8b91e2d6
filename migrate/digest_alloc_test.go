package migrate

import (
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// The copy digests and fingerprints every record it reads, and the
// verification every record it exports: neither may allocate per record
// (an escaping hash sum or a copied payload cost about a fifth of the
// migrator's CPU in garbage collection).
func TestDigestAndFingerprintDoNotAllocate(t *testing.T) {
	si, parent, pred, payload := int64(7), "menu", "12", `{"ciphertext":"abc","IV":"def","hmac":"0123"}`
	r := &syncstore.StoredRecord{ID: "abcdefghijkl", Modified: 123456, SortIndex: &si, ParentID: &parent,
		PredecessorID: &pred, Payload: &payload, Expiry: syncstore.NoExpiry}
	d := newDigester()
	var sink RecordDigest
	var fp fingerprint
	if n := testing.AllocsPerRun(100, func() { sink = d.full("bookmarks", r) }); n != 0 {
		t.Errorf("digester.full: %v allocations per record, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { fp = recordFingerprint(r) }); n != 0 {
		t.Errorf("recordFingerprint: %v allocations per record, want 0", n)
	}
	if sink.Size != int64(len(payload)) || fp != recordFingerprint(r) {
		t.Errorf("digest %+v / fingerprint %+v of %+v", sink, fp, r)
	}
}
