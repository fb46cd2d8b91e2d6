package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"time"

	"github.com/syncserver/syncserver/syncstore/sqlschema"
)

// migrationFiles are the schema versions, named NNNN_description.sql. A
// published file is never edited; a schema change is a new file with the
// next number, applied by the next Open.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies, in order, the migrations in fsys that db has not recorded
// in schema_migrations, each in its own transaction. The writer's
// transactions are BEGIN IMMEDIATE, so two processes opening the same file
// at once take turns and the second sees the first's versions.
func migrate(ctx context.Context, db *sql.DB, fsys fs.FS, clock func() time.Time) error {
	ms, err := sqlschema.Load(fsys)
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if len(ms) == 0 {
		return fmt.Errorf("no migrations found")
	}
	if known := ms[len(ms)-1].Version; newest > known {
		return fmt.Errorf("database schema version %d is newer than this program's %d; upgrade the program", newest, known)
	}
	for _, m := range ms {
		if err := applyMigration(ctx, db, m, clock); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *sql.DB, m sqlschema.Migration, clock func() time.Time) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	defer tx.Rollback()
	var applied int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&applied)
	if err != nil {
		return fmt.Errorf("migration %s: %w", m.Name, err)
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("applying migration %s: %w", m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		m.Version, clock().Unix()); err != nil {
		return fmt.Errorf("recording migration %s: %w", m.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing migration %s: %w", m.Name, err)
	}
	return nil
}
