package syncstore

// Sort is the order of a collection listing (docs/protocol.md §6.5).
type Sort int

const (
	// SortNone leaves the order to the store; with a limit, stores order by
	// id so pages are stable.
	SortNone   Sort = iota
	SortOldest      // modified ascending
	SortNewest      // modified descending
	SortIndex       // sortindex descending
)

// ParseSort maps the sort= parameter; unknown values mean no order, as in
// the Reference server (they are ignored, not errors).
func ParseSort(s string) Sort {
	switch s {
	case "oldest":
		return SortOldest
	case "newest":
		return SortNewest
	case "index":
		return SortIndex
	}
	return SortNone
}

// Query selects records of one collection. All filters are ANDed; nil
// pointers and empty values mean "no filter". Bounds are strict.
type Query struct {
	// IDs restricts to these ids when non-nil (an empty non-nil slice
	// matches nothing).
	IDs           []string
	ParentID      *string
	PredecessorID *string
	Newer         *Timestamp // modified > Newer
	Older         *Timestamp // modified < Older
	IndexAbove    *float64   // sortindex > IndexAbove
	IndexBelow    *float64   // sortindex < IndexBelow
	// Limit caps the number of rows when > 0. Offset skips rows and only
	// applies together with Limit.
	Limit  int
	Offset int
	Sort   Sort
}
