package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"time"

	"github.com/syncserver/syncserver/syncstore/sqlschema"
)

// migrationFiles are the schema migrations, NNNN_name.sql, applied in
// version order. A published file is never edited; changes go into a new
// file with the next number.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockWait is how long Open waits for another instance that is
// migrating the same database.
const migrateLockWait = 2 * time.Minute

// migrate applies the migrations not yet recorded in schema_migrations.
// An advisory lock named after the database serialises instances that
// start at once: the second waits, then finds nothing left to do.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := sqlschema.Load(migrationFiles)
	if err != nil {
		return err
	}
	// GET_LOCK belongs to the session, so lock, migrate and unlock on one
	// connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrating: %w", err)
	}
	defer conn.Close()

	// Lock names are limited to 64 characters; a hash of the database
	// name fits and keeps databases on one server independent.
	const lockName = "CONCAT('syncserver.migrate.', SHA1(DATABASE()))"
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx, "SELECT GET_LOCK("+lockName+", ?)", int(migrateLockWait/time.Second)).Scan(&got)
	if err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("taking the migration lock: another instance held it for %s", migrateLockWait)
	}
	defer func() {
		// If the lock cannot be released, the session must not go back to
		// the pool still holding it: a bad connection is closed instead.
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), "DO RELEASE_LOCK("+lockName+")"); err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()

	return applyMigrations(ctx, conn, ms)
}

func applyMigrations(ctx context.Context, conn *sql.Conn, ms []sqlschema.Migration) error {
	_, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
  version    INT    NOT NULL,
  applied_at BIGINT NOT NULL,
  PRIMARY KEY (version)
) ENGINE=InnoDB`)
	if err != nil {
		return fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied := make(map[int]bool)
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("reading schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading schema_migrations: %w", err)
	}

	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range splitStatements(m.SQL) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("applying migration %s, statement %d: %w", m.Name, i+1, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.Version, time.Now().Unix()); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.Name, err)
		}
	}
	return nil
}
