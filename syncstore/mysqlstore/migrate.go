package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles are the schema migrations, NNNN_name.sql, applied in
// version order. A published file is never edited; changes go into a new
// file with the next number.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned script.
type migration struct {
	version int
	name    string
	script  string
}

// loadMigrations lists the embedded migrations in version order.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var ms []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", base)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: version, name: base, script: string(text)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].name, ms[i].name, ms[i].version)
		}
	}
	return ms, nil
}

// migrateLockWait is how long Open waits for another instance that is
// migrating the same database.
const migrateLockWait = 2 * time.Minute

// migrate applies the migrations not yet recorded in schema_migrations.
// An advisory lock named after the database serialises instances that
// start at once: the second waits, then finds nothing left to do.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := loadMigrations(migrationFiles)
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

func applyMigrations(ctx context.Context, conn *sql.Conn, ms []migration) error {
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
		if applied[m.version] {
			continue
		}
		for i, stmt := range splitStatements(m.script) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("applying migration %s, statement %d: %w", m.name, i+1, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
			m.version, time.Now().Unix()); err != nil {
			return fmt.Errorf("recording migration %s: %w", m.name, err)
		}
	}
	return nil
}
