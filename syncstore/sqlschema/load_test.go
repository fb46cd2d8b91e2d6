package sqlschema

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadOrderAndNames(t *testing.T) {
	ms, err := Load(fstest.MapFS{
		"migrations/0010_c.sql": {Data: []byte("c")},
		"migrations/0002_b.sql": {Data: []byte("b")},
		"migrations/0001_a.sql": {Data: []byte("a")},
		"migrations/README":     {Data: []byte("not a migration")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name+"="+m.SQL)
	}
	if strings.Join(got, " ") != "0001_a.sql=a 0002_b.sql=b 0010_c.sql=c" {
		t.Errorf("loaded %v, want versions 1, 2, 10 in order", got)
	}
	for _, name := range []string{"migrations/init.sql", "migrations/0000_zero.sql", "migrations/x1_a.sql", "migrations/-1_a.sql"} {
		if _, err := Load(fstest.MapFS{name: {Data: []byte("SELECT 1")}}); err == nil {
			t.Errorf("Load accepted %q", name)
		}
	}
	dup := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("SELECT 1")},
		"migrations/001_b.sql":  {Data: []byte("SELECT 1")},
	}
	if _, err := Load(dup); err == nil || !strings.Contains(err.Error(), "share version 1") {
		t.Errorf("duplicate versions: error = %v", err)
	}
}
