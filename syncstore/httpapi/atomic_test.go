package httpapi_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// poisonable opens a real store of one kind together with a second,
// independent connection to its database, through which a test installs a
// trigger that makes the database refuse any record whose id is "poison".
// The store then fails in the middle of a write the way a real database
// does, with no mock involved.
type poisonable struct {
	name string
	open func(t testing.TB, clock func() time.Time) (syncstore.Store, *sql.DB)
	// trigger is the statement that installs the poison.
	trigger string
}

var poisonables = []poisonable{
	{"sqlite", openSQLiteRaw, `CREATE TRIGGER poison BEFORE INSERT ON wbo WHEN NEW.id = 'poison'
		BEGIN SELECT RAISE(ABORT, 'poisoned record'); END`},
	{"mysql", openMySQLRaw, `CREATE TRIGGER poison BEFORE INSERT ON wbo FOR EACH ROW
		BEGIN IF NEW.id = 'poison' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poisoned record'; END IF; END`},
}

func openSQLiteRaw(t testing.TB, clock func() time.Time) (syncstore.Store, *sql.DB) {
	t.Helper()
	dir := t.TempDir()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Dir: dir, Clock: clock})
	if err != nil {
		t.Fatalf("opening SQLite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("sqlite", filepath.Join(dir, sqlitestore.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

// openMySQLRaw creates a database aud_<random> (this audit's prefix) and
// drops it when the test ends.
func openMySQLRaw(t testing.TB, clock func() time.Time) (syncstore.Store, *sql.DB) {
	t.Helper()
	dsn := testservices.NewMySQLDatabase(t, "aud_")
	s, err := mysqlstore.Open(context.Background(), mysqlstore.Config{DSN: dsn, Clock: clock})
	if err != nil {
		t.Fatalf("opening MySQL store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db
}

// TestFailedWriteLeavesNothing: when the database fails part-way through
// a write, the client gets 503 with the back-off headers (never 500), and
// none of the request's records, nor its timestamp, is left behind.
func TestFailedWriteLeavesNothing(t *testing.T) {
	for _, p := range poisonables {
		t.Run(p.name, func(t *testing.T) {
			var db *sql.DB
			e := newEnv(t, backend{p.name, func(t testing.TB, clock func() time.Time) syncstore.Store {
				s, raw := p.open(t, clock)
				db = raw
				return s
			}}, nil)
			if _, err := db.Exec(p.trigger); err != nil {
				t.Fatalf("installing the trigger: %v", err)
			}
			c := e.user("alice")
			c.put("storage/col/a", `{"payload":"1","sortindex":1}`).expect(http.StatusOK, "1300000000.00")
			e.clock.Advance(time.Second)

			unavailable := func(r *resp) {
				t.Helper()
				r.expect(http.StatusServiceUnavailable, `"server issue: database unavailable"`).
					expectHeader("Retry-After", "1800").
					expectHeader("X-Weave-Backoff", "1800").
					expectHeader("X-Weave-Timestamp", "1300000001.00")
			}
			// The existing record is updated first in the statement, the new
			// ones after it; the poison comes last.
			unavailable(c.post("storage/col", `[{"id":"a","payload":"2"},{"id":"b","payload":"2"},{"id":"poison","payload":"2"}]`))
			unavailable(c.post("storage/other", `[{"id":"x","payload":"2"},{"id":"poison","payload":"2"}]`))
			unavailable(c.post("storage/col", `{"id":"poison","payload":"2"}`))
			unavailable(c.put("storage/col/poison", `{"payload":"2"}`))

			c.get("storage/col?full=1").expectJSON(http.StatusOK, `[{"id":"a","modified":1300000000.00,"sortindex":1,"payload":"1"}]`)
			c.get("info/collections").expect(http.StatusOK, `{"col":1300000000.00}`)
			c.get("info/collection_counts").expect(http.StatusOK, `{"col":1}`)
			c.get("info/collection_usage").expect(http.StatusOK, `{"col":0.0009765625}`)
			// The failed writes did not use up a timestamp either.
			c.post("storage/col", `[{"id":"b","payload":"3"}]`).
				expect(http.StatusOK, `{"modified":1300000001.00,"success":["b"],"failed":{}}`)
		})
	}
}
