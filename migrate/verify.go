package migrate

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// CollectionStats summarises one collection: what clients see of it
// (count, newest modified) and an order-independent checksum of its
// records (XOR of the record digests; ids are unique in a collection, so
// no two digests cancel).
type CollectionStats struct {
	Count    int64
	Newest   syncstore.Timestamp
	Bytes    int64
	Checksum Digest
}

// Summary is the verification view of one user's records.
type Summary struct {
	Collections map[string]*CollectionStats
}

// NewSummary returns an empty summary.
func NewSummary() *Summary {
	return &Summary{Collections: map[string]*CollectionStats{}}
}

// Add accounts for one record.
func (s *Summary) Add(collection string, d RecordDigest) {
	c := s.Collections[collection]
	if c == nil {
		c = &CollectionStats{}
		s.Collections[collection] = c
	}
	c.Count++
	c.Bytes += d.Size
	c.Newest = max(c.Newest, d.Modified)
	for i := range c.Checksum {
		c.Checksum[i] ^= d.Sum[i]
	}
}

// Records is the total number of records.
func (s *Summary) Records() int64 {
	var n int64
	for _, c := range s.Collections {
		n += c.Count
	}
	return n
}

// Bytes is the total payload size.
func (s *Summary) Bytes() int64 {
	var n int64
	for _, c := range s.Collections {
		n += c.Bytes
	}
	return n
}

// Newest is the newest modified over all collections.
func (s *Summary) Newest() syncstore.Timestamp {
	var ts syncstore.Timestamp
	for _, c := range s.Collections {
		ts = max(ts, c.Newest)
	}
	return ts
}

// Compare lists every difference between want (the source) and got (the
// copy); none means the copy is verified.
func (s *Summary) Compare(got *Summary) []string {
	var out []string
	names := map[string]bool{}
	for n := range s.Collections {
		names[n] = true
	}
	for n := range got.Collections {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		w, g := s.Collections[n], got.Collections[n]
		switch {
		case g == nil:
			out = append(out, fmt.Sprintf("collection %q: %d records missing from the copy", n, w.Count))
		case w == nil:
			out = append(out, fmt.Sprintf("collection %q: %d records in the copy that the source does not hold", n, g.Count))
		default:
			if w.Count != g.Count {
				out = append(out, fmt.Sprintf("collection %q: %d records in the source, %d in the copy", n, w.Count, g.Count))
			}
			if w.Newest != g.Newest {
				out = append(out, fmt.Sprintf("collection %q: newest modified %s in the source, %s in the copy", n, w.Newest, g.Newest))
			}
			if w.Checksum != g.Checksum {
				out = append(out, fmt.Sprintf("collection %q: record checksums differ", n))
			}
		}
	}
	return out
}

// CompareTimestamps checks the collection timestamps a store reports
// (info/collections) against the newest modified of each collection.
func (s *Summary) CompareTimestamps(ts map[string]syncstore.Timestamp) []string {
	var out []string
	names := map[string]bool{}
	for n := range s.Collections {
		names[n] = true
	}
	for n := range ts {
		names[n] = true
	}
	for _, n := range sortedKeys(names) {
		c, t := s.Collections[n], ts[n]
		var want syncstore.Timestamp
		if c != nil {
			want = c.Newest
		}
		if _, ok := ts[n]; !ok || c == nil || want != t {
			out = append(out, fmt.Sprintf("collection %q: info/collections says %s, records say %s", n, t, want))
		}
	}
	return out
}

// criticalRecords are compared byte for byte: a client that sees a
// different meta/global or crypto/keys wipes its data (docs/protocol.md §11).
var criticalRecords = [][2]string{{"meta", "global"}, {"crypto", "keys"}}

func isCritical(collection, id string) bool {
	for _, c := range criticalRecords {
		if c[0] == collection && c[1] == id {
			return true
		}
	}
	return false
}

// compareCritical compares two versions of a critical record.
func compareCritical(collection, id string, want, got *syncstore.StoredRecord) string {
	name := collection + "/" + id
	switch {
	case want == nil && got == nil:
		return ""
	case got == nil:
		return name + ": missing from the copy"
	case want == nil:
		return name + ": in the copy but not in the source"
	}
	if want.Modified != got.Modified {
		return fmt.Sprintf("%s: modified %s in the source, %s in the copy", name, want.Modified, got.Modified)
	}
	if (want.Payload == nil) != (got.Payload == nil) || (want.Payload != nil && !bytes.Equal([]byte(*want.Payload), []byte(*got.Payload))) {
		return name + ": payload differs"
	}
	return ""
}

// VerifyError lists what did not match after a copy.
type VerifyError struct {
	User       string
	Mismatches []string
}

func (e *VerifyError) Error() string {
	const show = 5
	m := e.Mismatches
	more := ""
	if len(m) > show {
		more = fmt.Sprintf(" (and %d more)", len(m)-show)
		m = m[:show]
	}
	return fmt.Sprintf("verifying %q: %s%s", e.User, strings.Join(m, "; "), more)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
