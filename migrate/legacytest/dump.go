package legacytest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"
)

// TableDigest hashes a table's full content in primary-key order (every
// column of every row, NULL distinguished from empty), so two tables are
// identical exactly when their digests are.
func TableDigest(ctx context.Context, db *sql.DB, table string) (string, int, error) {
	order, err := primaryKey(ctx, db, table)
	if err != nil {
		return "", 0, err
	}
	rows, err := db.QueryContext(ctx, "SELECT * FROM `"+table+"` ORDER BY "+order)
	if err != nil {
		return "", 0, fmt.Errorf("dumping %s: %w", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return "", 0, err
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	h := sha256.New()
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return "", 0, err
		}
		for _, v := range vals {
			if v == nil {
				h.Write([]byte{0})
				continue
			}
			fmt.Fprintf(h, "\x01%d:", len(v))
			h.Write(v)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Checksum is MariaDB's CHECKSUM TABLE value.
func Checksum(ctx context.Context, db *sql.DB, table string) (int64, error) {
	var name string
	var sum sql.NullInt64
	if err := db.QueryRowContext(ctx, "CHECKSUM TABLE `"+table+"`").Scan(&name, &sum); err != nil {
		return 0, fmt.Errorf("checksumming %s: %w", table, err)
	}
	return sum.Int64, nil
}

func primaryKey(ctx context.Context, db *sql.DB, table string) (string, error) {
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`, table)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return "", err
		}
		cols = append(cols, "`"+c+"`")
	}
	if len(cols) == 0 {
		return "", fmt.Errorf("table %s has no primary key", table)
	}
	return strings.Join(cols, ", "), rows.Err()
}
