package syncstore

import "fmt"

// StoredRecord is one stored WBO with every value exactly as a store holds
// it: unlike WBO it carries the stored modified and the absolute expiry,
// because moving data between stores (the migrate tool's import and
// export) must not assign new ones.
type StoredRecord struct {
	ID            string
	Modified      Timestamp
	SortIndex     *int64
	ParentID      *string
	PredecessorID *string
	// Payload is nil when the stored payload is NULL.
	Payload *string
	// Expiry is the absolute expiry in Unix seconds; NoExpiry for records
	// that never expire (every legacy record).
	Expiry int64
}

// PayloadSize is the payload length in bytes, 0 for a NULL payload.
func (r *StoredRecord) PayloadSize() int64 {
	if r.Payload == nil {
		return 0
	}
	return int64(len(*r.Payload))
}

// Expired reports whether the record is hidden from clients at unix time
// now (stores keep rows whose expiry is greater than now).
func (r *StoredRecord) Expired(now int64) bool {
	return r.Expiry <= now
}

// NullText scans a nullable text or binary column: NULL (absent) stays
// apart from an empty value, and the driver's bytes are copied once. The
// native store and the legacy readers both scan records with it.
type NullText struct{ P *string }

// Scan implements sql.Scanner.
func (n *NullText) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		n.P = nil
	case []byte:
		s := string(v)
		n.P = &s
	case string:
		n.P = &v
	default:
		return fmt.Errorf("unexpected %T for a text column", src)
	}
	return nil
}

// String is the value, "" for NULL.
func (n NullText) String() string {
	if n.P == nil {
		return ""
	}
	return *n.P
}
