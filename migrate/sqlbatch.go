package migrate

import (
	"context"
	"strings"
)

// Limits of one multi-row statement: well under MariaDB's default 16 MiB
// max_allowed_packet, large enough that a 6,000-record user is a dozen
// round trips.
const (
	batchRows  = 1000
	batchBytes = 4 << 20
)

// batchInsert accumulates rows of one INSERT and sends them in
// multi-row statements.
type batchInsert struct {
	q      querier
	head   string // "INSERT INTO t (a, b) VALUES "
	row    string // "(?, CAST(? AS BINARY))"
	tail   string // optional "ON DUPLICATE KEY UPDATE …"
	args   []any
	rows   int
	bytes  int
	perRow int
}

func newBatchInsert(q querier, head, row, tail string) *batchInsert {
	return &batchInsert{q: q, head: head, row: row, tail: tail, perRow: strings.Count(row, "?")}
}

// add queues one row; size is its approximate byte size.
func (b *batchInsert) add(ctx context.Context, size int, args ...any) error {
	b.args = append(b.args, args...)
	b.rows++
	b.bytes += size
	if b.rows >= batchRows || b.bytes >= batchBytes {
		return b.flush(ctx)
	}
	return nil
}

// flush sends the queued rows.
func (b *batchInsert) flush(ctx context.Context) error {
	if b.rows == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(len(b.head) + b.rows*(len(b.row)+1) + len(b.tail))
	sb.WriteString(b.head)
	for i := 0; i < b.rows; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(b.row)
	}
	sb.WriteString(b.tail)
	_, err := b.q.ExecContext(ctx, sb.String(), b.args...)
	clear(b.args)
	b.args = b.args[:0]
	b.rows, b.bytes = 0, 0
	return err
}

// placeholders returns "?,?,…" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

// bytesOrNil passes a nullable string as raw bytes, so the driver sends
// it as a binary literal that no connection charset converts.
func bytesOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return []byte(*s)
}
