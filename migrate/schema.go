package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Variant is a legacy schema family (docs/legacy.md).
type Variant string

const (
	// VariantFSyncMS: tables wbo/users keyed by username, collection names
	// as strings, modified as DOUBLE seconds; forks add a table prefix.
	VariantFSyncMS Variant = "fsyncms"
	// VariantMozilla: Mozilla's PHP 1.0 server — integer user and
	// collection ids, a collections table, centisecond modified, optional
	// wbo<N> sharding.
	VariantMozilla Variant = "mozilla"
)

// ParseVariant maps a --variant flag value; "" and "auto" mean detect.
func ParseVariant(s string) (Variant, error) {
	switch strings.ToLower(s) {
	case "", "auto":
		return "", nil
	case "fsyncms":
		return VariantFSyncMS, nil
	case "mozilla", "php", "php1.0", "mozilla-php":
		return VariantMozilla, nil
	}
	return "", fmt.Errorf("unknown legacy variant %q (want fsyncms or mozilla)", s)
}

// Schema is a legacy database's layout as found.
type Schema struct {
	Database string
	Variant  Variant
	// Prefix is the FSyncMS table prefix without the joining "_".
	Prefix string
	// Shards is the number of Mozilla wbo<N> tables, 0 for one wbo table.
	Shards int
	// UsernameCI tells that the wbo username column compares
	// case-insensitively (MySQL's default _ci collations), as FSyncMS
	// relies on.
	UsernameCI bool
	// CollectionCI tells that collection names compare case-insensitively
	// (FSyncMS's wbo.collection, Mozilla PHP's collections.name), and
	// IDCI the same of FSyncMS's wbo.id: the PHP server then takes names
	// differing only in case for one.
	CollectionCI, IDCI bool
	// PayloadCharset is the character set of the payload column; latin1
	// columns of old installs hold UTF-8 bytes (docs/legacy.md §5).
	PayloadCharset string
	// PayloadMax is the payload column's capacity in bytes (65,535 for
	// FSyncMS's TEXT).
	PayloadMax int64
}

// String describes the schema for logs and errors.
func (s Schema) String() string {
	switch s.Variant {
	case VariantFSyncMS:
		if s.Prefix != "" {
			return fmt.Sprintf("FSyncMS with prefix %q (tables %s, %s)", s.Prefix, s.wboTable(0), s.usersTable())
		}
		return "FSyncMS (tables wbo, users)"
	case VariantMozilla:
		if s.Shards > 0 {
			return fmt.Sprintf("Mozilla PHP 1.0 (tables users, collections, wbo0…wbo%d)", s.Shards-1)
		}
		return "Mozilla PHP 1.0 (tables users, collections, wbo)"
	}
	return "unknown"
}

func (s Schema) tablePrefix() string {
	if s.Prefix == "" {
		return ""
	}
	return s.Prefix + "_"
}

func (s Schema) usersTable() string { return s.tablePrefix() + "users" }

// wboTable is the table holding the records of Mozilla user id uid (any
// value for FSyncMS).
func (s Schema) wboTable(uid int64) string {
	if s.Variant == VariantMozilla && s.Shards > 0 {
		return "wbo" + strconv.FormatInt(uid%int64(s.Shards), 10)
	}
	return s.tablePrefix() + "wbo"
}

// ErrNoLegacyTables: the database holds no legacy Sync schema.
var ErrNoLegacyTables = errors.New("no legacy Sync tables found")

type column struct {
	dataType, charset, collation string
	octets                       int64
}

// detectSchema inspects information_schema and returns the one legacy
// layout that fits the tables present and opt.
func detectSchema(ctx context.Context, db *sql.DB, opt LegacyOptions) (Schema, error) {
	var dbName sql.NullString
	if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		return Schema{}, fmt.Errorf("inspecting the legacy database: %w", err)
	}
	if !dbName.Valid || dbName.String == "" {
		return Schema{}, errors.New("the legacy DSN names no database")
	}
	rows, err := db.QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COALESCE(CHARACTER_SET_NAME, ''), COALESCE(COLLATION_NAME, ''), COALESCE(CHARACTER_OCTET_LENGTH, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()`)
	if err != nil {
		return Schema{}, fmt.Errorf("listing the tables of legacy database %q: %w", dbName.String, err)
	}
	defer rows.Close()
	tables := map[string]map[string]column{}
	for rows.Next() {
		var t, c string
		var col column
		if err := rows.Scan(&t, &c, &col.dataType, &col.charset, &col.collation, &col.octets); err != nil {
			return Schema{}, fmt.Errorf("listing the tables of legacy database %q: %w", dbName.String, err)
		}
		if tables[t] == nil {
			tables[t] = map[string]column{}
		}
		tables[t][strings.ToLower(c)] = col
	}
	if err := rows.Err(); err != nil {
		return Schema{}, fmt.Errorf("listing the tables of legacy database %q: %w", dbName.String, err)
	}

	var found []Schema
	if opt.Variant == "" || opt.Variant == VariantFSyncMS {
		found = append(found, fsyncmsCandidates(tables, opt)...)
	}
	if opt.Variant == "" || opt.Variant == VariantMozilla {
		if s, ok := mozillaCandidate(tables, opt); ok {
			found = append(found, s)
		}
	}
	for i := range found {
		found[i].Database = dbName.String
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		names := make([]string, 0, len(tables))
		for t := range tables {
			names = append(names, t)
		}
		sort.Strings(names)
		return Schema{}, fmt.Errorf("%w in database %q (%s); expected wbo+users (FSyncMS), <prefix>_wbo+<prefix>_users (FSyncMS fork), or users+collections+wbo|wbo0…wboN (Mozilla PHP 1.0); tables present: %s",
			ErrNoLegacyTables, dbName.String, describeOptions(opt), strings.Join(names, ", "))
	}
	desc := make([]string, len(found))
	for i, s := range found {
		desc[i] = s.String()
	}
	return Schema{}, fmt.Errorf("legacy database %q holds several Sync schemas (%s): choose one with --variant and --prefix/--shards", dbName.String, strings.Join(desc, "; "))
}

func describeOptions(opt LegacyOptions) string {
	parts := []string{"variant " + string(opt.Variant)}
	if opt.Variant == "" {
		parts[0] = "variant auto"
	}
	if opt.Prefix != "" {
		parts = append(parts, fmt.Sprintf("prefix %q", opt.Prefix))
	}
	if opt.Shards > 0 {
		parts = append(parts, fmt.Sprintf("%d shards", opt.Shards))
	}
	return strings.Join(parts, ", ")
}

func hasColumns(t map[string]column, cols ...string) bool {
	if t == nil {
		return false
	}
	for _, c := range cols {
		if _, ok := t[c]; !ok {
			return false
		}
	}
	return true
}

func isTextType(dt string) bool {
	switch strings.ToLower(dt) {
	case "varchar", "char", "text", "tinytext", "mediumtext", "longtext", "varbinary", "binary":
		return true
	}
	return false
}

func caseInsensitive(c column) bool {
	return strings.HasSuffix(c.collation, "_ci")
}

var fsyncmsWboColumns = []string{"username", "id", "collection", "parentid", "predecessorid", "modified", "sortindex", "payload", "payload_size", "ttl"}

func fsyncmsCandidates(tables map[string]map[string]column, opt LegacyOptions) []Schema {
	var out []Schema
	for name, wbo := range tables {
		var prefix string
		switch {
		case name == "wbo":
		case strings.HasSuffix(name, "_wbo"):
			prefix = strings.TrimSuffix(name, "_wbo")
		default:
			continue
		}
		if opt.Prefix != "" && prefix != opt.Prefix {
			continue
		}
		users := tables[name[:len(name)-len("wbo")]+"users"]
		if !hasColumns(wbo, fsyncmsWboColumns...) || !isTextType(wbo["username"].dataType) || !hasColumns(users, "username", "md5") {
			continue
		}
		out = append(out, Schema{
			Variant:        VariantFSyncMS,
			Prefix:         prefix,
			UsernameCI:     caseInsensitive(wbo["username"]),
			CollectionCI:   caseInsensitive(wbo["collection"]),
			IDCI:           caseInsensitive(wbo["id"]),
			PayloadCharset: wbo["payload"].charset,
			PayloadMax:     wbo["payload"].octets,
		})
	}
	// A plain wbo table and a prefixed one at once: prefer neither.
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

var mozillaWboColumns = []string{"username", "collection", "id", "parentid", "predecessorid", "sortindex", "modified", "payload", "payload_size"}

func mozillaCandidate(tables map[string]map[string]column, opt LegacyOptions) (Schema, bool) {
	if !hasColumns(tables["users"], "id", "username", "password_hash", "email") || !hasColumns(tables["collections"], "userid", "collectionid", "name") {
		return Schema{}, false
	}
	okWbo := func(t map[string]column) bool {
		return hasColumns(t, mozillaWboColumns...) && !isTextType(t["username"].dataType)
	}
	s := Schema{Variant: VariantMozilla}
	switch {
	case opt.Shards > 0:
		for i := 0; i < opt.Shards; i++ {
			if !okWbo(tables["wbo"+strconv.Itoa(i)]) {
				return Schema{}, false
			}
		}
		s.Shards = opt.Shards
	case okWbo(tables["wbo0"]):
		n := 0
		for okWbo(tables["wbo"+strconv.Itoa(n)]) {
			n++
		}
		s.Shards = n
	case okWbo(tables["wbo"]):
	default:
		return Schema{}, false
	}
	s.UsernameCI = caseInsensitive(tables["users"]["username"])
	s.CollectionCI = caseInsensitive(tables["collections"]["name"])
	s.PayloadCharset = tables[s.wboTable(0)]["payload"].charset
	s.PayloadMax = tables[s.wboTable(0)]["payload"].octets
	return s, true
}
