package sqlstore

import (
	"encoding/json"
	"math"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// selector builds the WHERE, ORDER BY and LIMIT clauses of a statement on
// one user's collection in wbo.
type selector struct {
	s    *Store
	sql  strings.Builder
	args []any
}

// whereCollection selects one user's collection.
const whereCollection = " WHERE user_id = ? AND collection_id = ?"

// newSelector starts "<head> WHERE user_id = ? AND collection_id = ?".
func (s *Store) newSelector(head string, userID int64, collID int) *selector {
	sel := &selector{s: s, args: make([]any, 0, 8)}
	sel.sql.Grow(len(head) + 128)
	sel.sql.WriteString(head)
	sel.sql.WriteString(whereCollection)
	sel.args = append(sel.args, userID, collID)
	return sel
}

func (sel *selector) and(cond string, args ...any) {
	sel.sql.WriteString(" AND ")
	sel.sql.WriteString(cond)
	sel.args = append(sel.args, args...)
}

// inList is " AND id IN (?, …)" with n placeholders.
func inList(n int) string {
	return " AND id IN " + placeholders(1, n)
}

// ids adds "id IN (…)" for a non-empty list, in one of the shapes the
// store prepares (or as one JSON argument for a long list where the
// engine can unpack one).
func (sel *selector) ids(ids []string) {
	if len(ids) > sel.s.d.MaxIDList && sel.s.d.JSONIDs != "" {
		// Ids are validated text, so Marshal cannot fail.
		list, _ := json.Marshal(ids)
		sel.and("id IN ("+sel.s.d.JSONIDs+")", string(list))
		return
	}
	n := len(ids)
	if n <= sel.s.d.MaxIDList {
		n = sel.s.listShape(n)
	}
	sel.sql.WriteString(inList(n))
	for _, id := range ids {
		sel.args = append(sel.args, sel.s.d.Text(id))
	}
	for range n - len(ids) {
		sel.args = append(sel.args, sel.s.d.Text(ids[len(ids)-1]))
	}
}

// filters adds the conditions of q (not its limit or order). It reports
// false when q can match no row, so the statement need not run.
func (sel *selector) filters(q *syncstore.Query) bool {
	if q.IDs != nil {
		ids := make([]string, 0, len(q.IDs))
		for _, id := range q.IDs {
			// Longer ids cannot be stored; leaving them out keeps the
			// statement small for lists padded with garbage.
			if len(id) <= syncstore.MaxIDLen {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return false
		}
		sel.ids(ids)
	}
	if q.ParentID != nil {
		sel.and("parentid = ?", sel.s.d.Text(*q.ParentID))
	}
	if q.PredecessorID != nil {
		sel.and("predecessorid = ?", sel.s.d.Text(*q.PredecessorID))
	}
	if q.Newer != nil {
		sel.and("modified > ?", int64(*q.Newer))
	}
	if q.Older != nil {
		sel.and("modified < ?", int64(*q.Older))
	}
	if q.IndexAbove != nil {
		if math.IsNaN(*q.IndexAbove) {
			return false
		}
		// sortindex is an integer, so > x is > floor(x); clamping keeps
		// the value an integer the column type can be compared with
		// while still excluding NULL sortindexes.
		sel.and("sortindex > ?", clampIndex(math.Floor(*q.IndexAbove)))
	}
	if q.IndexBelow != nil {
		if math.IsNaN(*q.IndexBelow) {
			return false
		}
		sel.and("sortindex < ?", clampIndex(math.Ceil(*q.IndexBelow)))
	}
	return true
}

// clampIndex bounds a sortindex comparison value to just outside the
// range of a 32-bit column (stored sortindexes are within ±999,999,999).
func clampIndex(f float64) int64 {
	const bound = 1 << 32
	switch {
	case f > bound:
		return bound
	case f < -bound:
		return -bound
	}
	return int64(f)
}

// order adds the ORDER BY of q. Without a sort, a limited query is ordered
// by id so pages are stable (docs/protocol.md §6.5 decision). Ties are broken
// by id so results are deterministic; the modified orders then follow the
// (user_id, collection_id, modified) index, which holds the id too. NULL
// sorts lowest in both engines, so records without a sortindex come last
// under sort=index.
func (sel *selector) order(q *syncstore.Query) {
	switch q.Sort {
	case syncstore.SortOldest:
		sel.sql.WriteString(" ORDER BY modified, id")
	case syncstore.SortNewest:
		sel.sql.WriteString(" ORDER BY modified DESC, id DESC")
	case syncstore.SortIndex:
		sel.sql.WriteString(" ORDER BY sortindex DESC, id")
	default:
		if q.Limit > 0 {
			sel.sql.WriteString(" ORDER BY id")
		}
	}
}

// limit adds LIMIT and OFFSET; the offset only counts with a limit.
func (sel *selector) limit(q *syncstore.Query) {
	if q.Limit <= 0 {
		return
	}
	sel.sql.WriteString(" LIMIT ?")
	sel.args = append(sel.args, q.Limit)
	if q.Offset > 0 {
		sel.sql.WriteString(" OFFSET ?")
		sel.args = append(sel.args, q.Offset)
	}
}

// matchesAll reports whether q selects every row of a collection.
func matchesAll(q *syncstore.Query) bool {
	return q.IDs == nil && q.ParentID == nil && q.PredecessorID == nil && q.Newer == nil && q.Older == nil &&
		q.IndexAbove == nil && q.IndexBelow == nil && q.Limit <= 0
}
