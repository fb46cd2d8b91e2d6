package mysqlstore

import (
	"slices"
	"testing"

	"github.com/syncserver/syncserver/syncstore/sqlschema"
)

func TestSplitStatements(t *testing.T) {
	cases := []struct {
		name   string
		script string
		want   []string
	}{
		{"plain", "CREATE TABLE a (x INT);\nCREATE TABLE b (y INT);\n", []string{"CREATE TABLE a (x INT)", "CREATE TABLE b (y INT)"}},
		{"no final semicolon", "SELECT 1;SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"semicolon in string", "INSERT INTO t VALUES ('a;b', \"c;d\");", []string{"INSERT INTO t VALUES ('a;b', \"c;d\")"}},
		{"escaped quotes", `INSERT INTO t VALUES ('it''s;', 'back\';slash');`, []string{`INSERT INTO t VALUES ('it''s;', 'back\';slash')`}},
		{"quoted identifier", "CREATE TABLE `we;ird` (x INT);", []string{"CREATE TABLE `we;ird` (x INT)"}},
		{"line comments", "-- first; not a statement\nSELECT 1; # trailing; comment\n", []string{"-- first; not a statement\nSELECT 1"}},
		{"block comment", "/* a; b */ SELECT 1 /* ; */;", []string{"/* a; b */ SELECT 1 /* ; */"}},
		{"double dash without space is code", "SELECT 1--1;", []string{"SELECT 1--1"}},
		{"only comments", "-- nothing here;\n/* ; */\n", nil},
		{"empty statements", ";;  ;\nSELECT 1;;", []string{"SELECT 1"}},
	}
	for _, c := range cases {
		if got := splitStatements(c.script); !slices.Equal(got, c.want) {
			t.Errorf("%s: splitStatements = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSplitStatementsOfEmbeddedMigrations(t *testing.T) {
	ms, err := sqlschema.Load(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, stmt := range splitStatements(m.SQL) {
			if stmt == "" {
				t.Errorf("%s: empty statement", m.Name)
			}
		}
	}
}
