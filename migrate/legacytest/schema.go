package legacytest

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Variants.
const (
	FSyncMS = "fsyncms"
	Mozilla = "mozilla"
)

// Layout is one legacy schema.
type Layout struct {
	Variant string // FSyncMS or Mozilla
	// Prefix names FSyncMS fork tables <Prefix>_wbo, <Prefix>_users.
	Prefix string
	// Shards > 0 makes Mozilla tables wbo0 … wbo<Shards-1>.
	Shards int
}

// String names the layout in test names.
func (l Layout) String() string {
	s := l.Variant
	if l.Prefix != "" {
		s += "_prefix_" + l.Prefix
	}
	if l.Shards > 0 {
		s += fmt.Sprintf("_shards_%d", l.Shards)
	}
	return s
}

// fsyncmsDDL is FSyncMS's setup.php (docs/legacy.md §1.1), with the table
// names of the forks that add a prefix.
const fsyncmsDDL = `create table {wbo} ( username varchar(100), id varchar(65), collection varchar(100),
                 parentid  varchar(65), predecessorid int, modified real, sortindex int,
                 payload text, payload_size int, ttl int, primary key (username,collection,id));
create table {users} ( username varchar(255), md5 varchar(124), primary key (username));
create index parentindex on {wbo} (username, parentid);
create index predecessorindex on {wbo} (username, predecessorid);
create index modifiedindex on {wbo} (username, collection, modified)`

// mozillaDDL is Mozilla PHP 1.0's schema (docs/legacy.md §2.1).
const mozillaCollectionsDDL = "CREATE TABLE `collections` (\n" +
	"  `userid` int(11) NOT NULL,\n" +
	"  `collectionid` smallint(6) NOT NULL,\n" +
	"  `name` varchar(32) NOT NULL,\n" +
	"  PRIMARY KEY  (`userid`,`collectionid`),\n" +
	"  KEY `nameindex` (`userid`,`name`)\n" +
	") ENGINE=InnoDB"

const mozillaWboDDL = "CREATE TABLE `{wbo}` (\n" +
	"  `username` int(11) NOT NULL,\n" +
	"  `collection` smallint(6) NOT NULL default '0',\n" +
	"  `id` varbinary(64) NOT NULL default '',\n" +
	"  `parentid` varbinary(64) default NULL,\n" +
	"  `predecessorid` varbinary(64) default NULL,\n" +
	"  `sortindex` int(11) default NULL,\n" +
	"  `modified` bigint(20) default NULL,\n" +
	"  `payload` longtext,\n" +
	"  `payload_size` int(11) default NULL,\n" +
	"  PRIMARY KEY  (`username`,`collection`,`id`),\n" +
	"  KEY `parentindex` (`username`,`collection`,`parentid`),\n" +
	"  KEY `modified` (`username`,`collection`,`modified`),\n" +
	"  KEY `weightindex` (`username`,`collection`,`sortindex`),\n" +
	"  KEY `predecessorindex` (`username`,`collection`,`predecessorid`),\n" +
	"  KEY `size_index` (`username`,`payload_size`)\n" +
	") ENGINE=InnoDB"

const mozillaUsersDDL = "CREATE TABLE `users` (\n" +
	"  `id` int(11) NOT NULL PRIMARY KEY auto_increment,\n" +
	"  `username` varchar(32),\n" +
	"  `password_hash` varbinary(128),\n" +
	"  `email` varbinary(64),\n" +
	"  `status` tinyint(4) default '1',\n" +
	"  `alert` text,\n" +
	"  `reset` varbinary(32) default null\n" +
	") ENGINE=InnoDB"

// Tables lists the layout's table names.
func (l Layout) Tables() []string {
	if l.Variant == FSyncMS {
		return []string{l.prefix() + "wbo", l.prefix() + "users"}
	}
	out := []string{"users", "collections"}
	return append(out, l.WboTables()...)
}

// WboTables lists the record tables.
func (l Layout) WboTables() []string {
	if l.Variant == FSyncMS {
		return []string{l.prefix() + "wbo"}
	}
	if l.Shards == 0 {
		return []string{"wbo"}
	}
	out := make([]string, l.Shards)
	for i := range out {
		out[i] = fmt.Sprintf("wbo%d", i)
	}
	return out
}

func (l Layout) prefix() string {
	if l.Prefix == "" {
		return ""
	}
	return l.Prefix + "_"
}

// WboTable is the table of Mozilla user id uid.
func (l Layout) WboTable(uid int64) string {
	if l.Variant == Mozilla && l.Shards > 0 {
		return fmt.Sprintf("wbo%d", uid%int64(l.Shards))
	}
	return l.prefix() + "wbo"
}

// UsersTable is the users table's name.
func (l Layout) UsersTable() string { return l.prefix() + "users" }

// CreateSchema creates the layout's tables from the DDL in docs/legacy.md.
func CreateSchema(ctx context.Context, db *sql.DB, l Layout) error {
	var script string
	switch l.Variant {
	case FSyncMS:
		script = strings.NewReplacer("{wbo}", l.prefix()+"wbo", "{users}", l.prefix()+"users").Replace(fsyncmsDDL)
	case Mozilla:
		parts := []string{mozillaCollectionsDDL, mozillaUsersDDL}
		for _, t := range l.WboTables() {
			parts = append(parts, strings.ReplaceAll(mozillaWboDDL, "{wbo}", t))
		}
		script = strings.Join(parts, ";\n")
	default:
		return fmt.Errorf("unknown variant %q", l.Variant)
	}
	if err := Exec(ctx, db, script); err != nil {
		return fmt.Errorf("creating %s schema: %w", l, err)
	}
	return nil
}
