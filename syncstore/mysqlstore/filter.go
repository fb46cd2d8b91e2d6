package mysqlstore

import (
	"math"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// selector builds the WHERE, ORDER BY and LIMIT clauses of a statement on
// one user's collection in wbo.
type selector struct {
	sql  strings.Builder
	args []any
}

// newSelector starts "<head> WHERE user_id = ? AND collection_id = ?".
func newSelector(head string, userID int64, collID int) *selector {
	s := &selector{args: make([]any, 0, 8)}
	s.sql.Grow(len(head) + 128)
	s.sql.WriteString(head)
	s.sql.WriteString(" WHERE user_id = ? AND collection_id = ?")
	s.args = append(s.args, userID, collID)
	return s
}

func (s *selector) and(cond string, args ...any) {
	s.sql.WriteString(" AND ")
	s.sql.WriteString(cond)
	s.args = append(s.args, args...)
}

// in adds "column IN (?, …)" for a non-empty list.
func (s *selector) in(column string, values []string) {
	s.sql.WriteString(" AND ")
	s.sql.WriteString(column)
	s.sql.WriteString(" IN (")
	for i, v := range values {
		if i > 0 {
			s.sql.WriteString(", ")
		}
		s.sql.WriteByte('?')
		s.args = append(s.args, v)
	}
	s.sql.WriteByte(')')
}

// filters adds the conditions of q (not its limit or order). It reports
// false when q can match no row, so the statement need not run.
func (s *selector) filters(q *syncstore.Query) bool {
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
		s.in("id", ids)
	}
	if q.ParentID != nil {
		s.and("parentid = ?", *q.ParentID)
	}
	if q.PredecessorID != nil {
		s.and("predecessorid = ?", *q.PredecessorID)
	}
	if q.Newer != nil {
		s.and("modified > ?", int64(*q.Newer))
	}
	if q.Older != nil {
		s.and("modified < ?", int64(*q.Older))
	}
	if q.IndexAbove != nil {
		if math.IsNaN(*q.IndexAbove) {
			return false
		}
		// sortindex is an integer, so > x is > floor(x); clamping keeps
		// the value an integer the column type can be compared with
		// while still excluding NULL sortindexes.
		s.and("sortindex > ?", clampIndex(math.Floor(*q.IndexAbove)))
	}
	if q.IndexBelow != nil {
		if math.IsNaN(*q.IndexBelow) {
			return false
		}
		s.and("sortindex < ?", clampIndex(math.Ceil(*q.IndexBelow)))
	}
	return true
}

// clampIndex bounds a sortindex comparison value to just outside the INT
// column's range.
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
// (user_id, collection_id, modified) index, which holds the id too.
func (s *selector) order(q *syncstore.Query) {
	switch q.Sort {
	case syncstore.SortOldest:
		s.sql.WriteString(" ORDER BY modified, id")
	case syncstore.SortNewest:
		s.sql.WriteString(" ORDER BY modified DESC, id DESC")
	case syncstore.SortIndex:
		// NULL sorts lowest in MySQL, so records without a sortindex come
		// last.
		s.sql.WriteString(" ORDER BY sortindex DESC, id")
	default:
		if q.Limit > 0 {
			s.sql.WriteString(" ORDER BY id")
		}
	}
}

// limit adds LIMIT and OFFSET; the offset only counts with a limit.
func (s *selector) limit(q *syncstore.Query) {
	if q.Limit <= 0 {
		return
	}
	s.sql.WriteString(" LIMIT ?")
	s.args = append(s.args, q.Limit)
	if q.Offset > 0 {
		s.sql.WriteString(" OFFSET ?")
		s.args = append(s.args, q.Offset)
	}
}

// matchesAll reports whether q selects every row of a collection.
func matchesAll(q *syncstore.Query) bool {
	return q.IDs == nil && q.ParentID == nil && q.PredecessorID == nil && q.Newer == nil && q.Older == nil &&
		q.IndexAbove == nil && q.IndexBelow == nil && q.Limit <= 0
}
