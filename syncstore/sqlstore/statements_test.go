package sqlstore

import (
	"slices"
	"testing"
)

// TestChunkShapes: every statement chunkSizes and listShape ask for is
// one of the prepared shapes, holds its rows, and the rows add up (with
// exactChunkSizes, each shape is exactly its rows); a full batch of 100
// records goes as one unpadded statement.
func TestChunkShapes(t *testing.T) {
	for _, d := range []Dialect{
		{Name: "padded", PadRows: true, MaxRows: 512, MaxIDList: 128},
		{Name: "cut", MaxRows: 256, MaxIDList: 64},
	} {
		s := &Store{d: d}
		rowShapes, idShapes := preparedShapes(d.MaxRows), preparedShapes(d.MaxIDList)
		for n := 1; n <= 3*d.MaxRows; n++ {
			rows, shapes := s.chunkSizes(n)
			total := 0
			for i, k := range rows {
				total += k
				if !slices.Contains(rowShapes, shapes[i]) || shapes[i] < k {
					t.Fatalf("%s: chunkSizes(%d) = %v rows in shapes %v: shape %d is not prepared or too small", d.Name, n, rows, shapes, shapes[i])
				}
			}
			if total != n {
				t.Fatalf("%s: chunkSizes(%d) = %v rows, %d in all", d.Name, n, rows, total)
			}
		}
		for n := 1; n <= 3*d.MaxRows; n++ {
			rows, shapes := s.exactChunkSizes(n)
			total := 0
			for i, k := range rows {
				total += k
				if !slices.Contains(rowShapes, shapes[i]) || shapes[i] != k {
					t.Fatalf("%s: exactChunkSizes(%d) = %v rows in shapes %v: shape %d is not prepared or not exact", d.Name, n, rows, shapes, shapes[i])
				}
			}
			if total != n {
				t.Fatalf("%s: exactChunkSizes(%d) = %v rows, %d in all", d.Name, n, rows, total)
			}
		}
		if rows, shapes := s.chunkSizes(100); len(rows) != 1 || shapes[0] != 100 {
			t.Errorf("%s: chunkSizes(100) = %v rows in shapes %v, want one statement of 100", d.Name, rows, shapes)
		}
		for n := 2; n <= d.MaxIDList; n++ {
			if k := s.listShape(n); k < n || !slices.Contains(idShapes, k) {
				t.Fatalf("%s: listShape(%d) = %d, not a prepared shape of at least n", d.Name, n, k)
			}
		}
	}
}
