package migrate

import (
	"fmt"
	"unicode/utf8"

	"github.com/syncserver/syncserver/syncstore"
)

// checkImportable refuses a legacy record the native store could not hold
// or serve unchanged, naming it.
func checkImportable(s Schema, collection string, r *syncstore.StoredRecord) error {
	if !syncstore.ValidCollection(collection) {
		return fmt.Errorf("collection name %q is not valid in the native store ([A-Za-z0-9._-]{1,32})", collection)
	}
	if !syncstore.ValidID(r.ID) {
		return fmt.Errorf("record %s/%q: id is not valid in the native store (1–64 printable ASCII characters without '/' or ',')", collection, r.ID)
	}
	for _, f := range []struct {
		name string
		v    *string
	}{{"parentid", r.ParentID}, {"predecessorid", r.PredecessorID}} {
		if f.v != nil && (len(*f.v) > syncstore.MaxIDLen || !utf8.ValidString(*f.v)) {
			return fmt.Errorf("record %s/%s: %s %q is longer than %d bytes or not UTF-8", collection, r.ID, f.name, *f.v, syncstore.MaxIDLen)
		}
	}
	if r.Payload != nil && !utf8.ValidString(*r.Payload) {
		return fmt.Errorf("record %s/%s: payload is not valid UTF-8 (the legacy payload column is %s): the legacy database holds text in another encoding; "+
			"clients only ever stored UTF-8 JSON, so the row was written by something else and would not read back the same", collection, r.ID, s.PayloadCharset)
	}
	return nil
}
