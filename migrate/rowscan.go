package migrate

import (
	"database/sql"
	"fmt"
	"math"
	"strconv"

	"github.com/syncserver/syncserver/syncstore"
)

// The per-record scans (a user's thousands of rows, read by the bulk copy
// and again by the delta's fingerprint scan) reuse one set of scan
// targets for every row: targets passed to rows.Scan escape, so declared
// per row each cost an allocation, and pointer-valued targets (nullInt,
// NullText) one more per non-NULL value. These hold values; what a record
// keeps is copied into its scannedRecord, one allocation per row.

// intCol scans a nullable integer column into a value.
type intCol struct {
	v  int64
	ok bool
}

func (n *intCol) Scan(src any) error {
	n.ok = true
	switch v := src.(type) {
	case nil:
		n.ok = false
		return nil
	case int64:
		n.v = v
		return nil
	case uint64: // an unsigned column in the binary protocol
		if v > math.MaxInt64 {
			return fmt.Errorf("integer column holds %d", v)
		}
		n.v = int64(v)
		return nil
	case []byte:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("integer column holds %q", v)
		}
		n.v = i
		return nil
	}
	return fmt.Errorf("unexpected %T for an integer column", src)
}

// ptr is the value as the records carry it, nil for NULL.
func (n *intCol) ptr() *int64 {
	if !n.ok {
		return nil
	}
	v := n.v
	return &v
}

// decimal is the value as decimal text (FSyncMS's INT predecessorid),
// nil for NULL.
func (n *intCol) decimal() *string {
	if !n.ok {
		return nil
	}
	s := strconv.FormatInt(n.v, 10)
	return &s
}

// floatCol scans a nullable DOUBLE into a value.
type floatCol struct {
	v  float64
	ok bool
}

func (n *floatCol) Scan(src any) error {
	n.ok = true
	switch v := src.(type) {
	case nil:
		n.ok = false
		return nil
	case float64:
		n.v = v
		return nil
	case float32:
		n.v = float64(v)
		return nil
	case int64:
		n.v = float64(v)
		return nil
	case []byte:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil {
			return fmt.Errorf("float column holds %q", v)
		}
		n.v = f
		return nil
	}
	return fmt.Errorf("unexpected %T for a float column", src)
}

// timestamp is the column as FSyncMS seconds converted to centiseconds
// (secondsToTimestamp), 0 for NULL.
func (n *floatCol) timestamp() syncstore.Timestamp {
	if !n.ok {
		return 0
	}
	return secondsToTimestamp(&n.v)
}

// textCol scans a nullable text or binary column, copying the driver's
// bytes once; NULL stays apart from an empty value.
type textCol struct {
	s  string
	ok bool
}

func (n *textCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.s, n.ok = "", false
	case []byte:
		n.s, n.ok = string(v), true
	case string:
		n.s, n.ok = v, true
	default:
		return fmt.Errorf("unexpected %T for a text column", src)
	}
	return nil
}

// ptr is the value as the records carry it, nil for NULL.
func (n *textCol) ptr() *string {
	if !n.ok {
		return nil
	}
	s := n.s
	return &s
}

// interner returns one string per distinct collection name a scan sees:
// the rows of a user name a handful of collections thousands of times.
type interner map[string]string

// of is b as a string, allocated only the first time it is seen.
func (in interner) of(b sql.RawBytes) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	in[s] = s
	return s
}

// scannedRecord is a record as a scan returns it, with the values its
// pointer fields point to: one allocation per row instead of one per
// field.
type scannedRecord struct {
	syncstore.StoredRecord
	sortIndex     int64
	parentID      string
	predecessorID string
	payload       string
}

// newScannedRecord builds the record of one row; pred is the
// predecessorid as the decimal text FSyncMS's INT column stands for.
func newScannedRecord(id string, modified syncstore.Timestamp, sortIndex *intCol, parent *textCol, pred *intCol, payload *textCol) *syncstore.StoredRecord {
	sr := &scannedRecord{StoredRecord: syncstore.StoredRecord{ID: id, Modified: modified, Expiry: syncstore.NoExpiry}}
	r := &sr.StoredRecord
	if sortIndex.ok {
		sr.sortIndex = sortIndex.v
		r.SortIndex = &sr.sortIndex
	}
	if parent.ok {
		sr.parentID = parent.s
		r.ParentID = &sr.parentID
	}
	if pred.ok {
		sr.predecessorID = strconv.FormatInt(pred.v, 10)
		r.PredecessorID = &sr.predecessorID
	}
	if payload.ok {
		sr.payload = payload.s
		r.Payload = &sr.payload
	}
	return r
}
