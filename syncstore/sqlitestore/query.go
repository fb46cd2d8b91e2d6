package sqlitestore

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// recordColumns are read into a syncstore.WBO by scanRecord.
const recordColumns = `id, modified, sortindex, payload, parentid, predecessorid`

// maxInlineIDs is the longest ids= list bound as one parameter per id.
// Clients send at most 100.
const maxInlineIDs = 500

// filterSQL appends " AND …" conditions for q's filters (not the TTL one)
// to b and their arguments to args. The caller has ruled out an empty,
// non-nil IDs list.
func filterSQL(b *strings.Builder, args []any, q *syncstore.Query) []any {
	switch n := len(q.IDs); {
	case n > maxInlineIDs:
		// Past SQLite's bound-parameter limit; one JSON array argument
		// has no limit. Ids are validated text, so Marshal cannot fail.
		list, _ := json.Marshal(q.IDs)
		b.WriteString(` AND id IN (SELECT value FROM json_each(?))`)
		args = append(args, string(list))
	case n > 0:
		b.WriteString(` AND id IN (`)
		for i, id := range q.IDs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, id)
		}
		b.WriteByte(')')
	}
	if q.ParentID != nil {
		b.WriteString(` AND parentid = ?`)
		args = append(args, *q.ParentID)
	}
	if q.PredecessorID != nil {
		b.WriteString(` AND predecessorid = ?`)
		args = append(args, *q.PredecessorID)
	}
	if q.Newer != nil {
		b.WriteString(` AND modified > ?`)
		args = append(args, int64(*q.Newer))
	}
	if q.Older != nil {
		b.WriteString(` AND modified < ?`)
		args = append(args, int64(*q.Older))
	}
	if q.IndexAbove != nil {
		b.WriteString(` AND sortindex > ?`)
		args = append(args, *q.IndexAbove)
	}
	if q.IndexBelow != nil {
		b.WriteString(` AND sortindex < ?`)
		args = append(args, *q.IndexBelow)
	}
	return args
}

// orderSQL appends ORDER BY, LIMIT and OFFSET. Ties are broken by id so
// pages are stable; for oldest/newest that is free, since the modified
// index already carries the id. NULL sortindexes sort last under DESC.
func orderSQL(b *strings.Builder, q *syncstore.Query) {
	switch q.Sort {
	case syncstore.SortOldest:
		b.WriteString(` ORDER BY modified, id`)
	case syncstore.SortNewest:
		b.WriteString(` ORDER BY modified DESC, id DESC`)
	case syncstore.SortIndex:
		b.WriteString(` ORDER BY sortindex DESC, id`)
	default:
		if q.Limit > 0 {
			b.WriteString(` ORDER BY id`)
		}
	}
	if q.Limit > 0 {
		b.WriteString(` LIMIT `)
		b.WriteString(strconv.Itoa(q.Limit))
		if q.Offset > 0 {
			b.WriteString(` OFFSET `)
			b.WriteString(strconv.Itoa(q.Offset))
		}
	}
}

// matchesNothing reports a query that selects no rows by construction.
func matchesNothing(q *syncstore.Query) bool {
	return q.IDs != nil && len(q.IDs) == 0
}

// selectsAll reports a query without filters or paging.
func selectsAll(q *syncstore.Query) bool {
	return q.IDs == nil && q.ParentID == nil && q.PredecessorID == nil && q.Newer == nil && q.Older == nil &&
		q.IndexAbove == nil && q.IndexBelow == nil && q.Limit <= 0
}
