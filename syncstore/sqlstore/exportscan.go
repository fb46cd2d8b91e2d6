package sqlstore

import (
	"database/sql"

	"github.com/syncserver/syncserver/syncstore"
)

// exportScan holds the scan targets of an export, reused for every row:
// targets passed to rows.Scan escape, so declared per row each cost an
// allocation, and NullText one more per non-NULL value. A migration's
// verification exports every record of the user it checks, inside the
// user's 503 window.
type exportScan struct {
	id                    sql.RawBytes
	modified, expiry      int64
	sortIndex             sql.NullInt64
	payload, parent, pred sql.NullString
	dest                  []any
}

func newExportScan() *exportScan {
	e := &exportScan{}
	e.dest = []any{&e.id, &e.modified, &e.sortIndex, &e.payload, &e.parent, &e.pred, &e.expiry}
	return e
}

// exportedRecord is one exported row: the record and the values its
// pointer fields point to, one allocation per row.
type exportedRecord struct {
	syncstore.StoredRecord
	sortIndex                        int64
	payload, parentID, predecessorID string
}

// record is the row just scanned, as a record of its own (callers may
// keep it).
func (e *exportScan) record() *syncstore.StoredRecord {
	x := &exportedRecord{StoredRecord: syncstore.StoredRecord{
		ID: string(e.id), Modified: syncstore.Timestamp(e.modified), Expiry: e.expiry}}
	r := &x.StoredRecord
	if e.sortIndex.Valid {
		x.sortIndex = e.sortIndex.Int64
		r.SortIndex = &x.sortIndex
	}
	if e.payload.Valid {
		x.payload = e.payload.String
		r.Payload = &x.payload
	}
	if e.parent.Valid {
		x.parentID = e.parent.String
		r.ParentID = &x.parentID
	}
	if e.pred.Valid {
		x.predecessorID = e.pred.String
		r.PredecessorID = &x.predecessorID
	}
	return r
}
