// Package sqlschema reads a SQL store's versioned schema migrations:
// files named NNNN_description.sql under migrations/, embedded in the
// binary and applied in version order at start. A published file is never
// edited; a schema change is a new file with the next number. Applying
// them is the store's own business (SQLite and MySQL lock and split
// scripts differently); listing and ordering them is shared here.
package sqlschema

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one versioned script.
type Migration struct {
	Version int
	Name    string // the file name, for messages
	SQL     string
}

// Load lists migrations/*.sql of fsys in version order. It refuses names
// that do not start with a positive number and '_', and two files with one
// version.
func Load(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("listing migrations: %w", err)
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("migration %q: name must be NNNN_description.sql with NNNN > 0", base)
		}
		text, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading migration %q: %w", base, err)
		}
		ms = append(ms, Migration{Version: version, Name: base, SQL: string(text)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %q and %q share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}
