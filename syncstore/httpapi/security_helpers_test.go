package httpapi_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
)

// withSecurityEnv runs fn per backend with a default handler.
func withSecurityEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	withEnv(t, nil, fn)
}

// userState is everything a user's account holds, as the store reports
// it: compared before and after a request that must not change anything.
type userState struct {
	User       *syncstore.User
	Timestamps map[string]syncstore.Timestamp
	Counts     map[string]int64
	Usage      map[string]int64
	// Collections holds each collection's records in wire form, sorted.
	Collections map[string][]string
}

// state reads the account name and all of its records.
func (e *env) state(name string) string {
	e.t.Helper()
	ctx := context.Background()
	u, err := e.store.LookupUser(ctx, name)
	if err != nil {
		e.t.Fatalf("looking up %s: %v", name, err)
	}
	s := userState{User: u, Collections: map[string][]string{}}
	if s.Timestamps, err = e.store.CollectionTimestamps(ctx, u.ID); err != nil {
		e.t.Fatal(err)
	}
	if s.Counts, err = e.store.CollectionCounts(ctx, u.ID); err != nil {
		e.t.Fatal(err)
	}
	if s.Usage, err = e.store.CollectionUsage(ctx, u.ID); err != nil {
		e.t.Fatal(err)
	}
	for coll := range s.Timestamps {
		recs, err := e.store.GetRecords(ctx, u.ID, coll, &syncstore.Query{})
		if err != nil {
			e.t.Fatal(err)
		}
		var out []string
		for i := range recs {
			out = append(out, string(recs[i].AppendJSON(nil)))
		}
		slices.Sort(out)
		s.Collections[coll] = out
	}
	b, err := json.Marshal(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

// tables lists the store's tables with their row counts, to show that
// no statement dropped or emptied one.
func (e *env) tables() map[string]int64 {
	e.t.Helper()
	withDB, ok := e.store.(interface{ DB() *sql.DB })
	if !ok {
		e.t.Fatalf("%T has no DB()", e.store)
	}
	db := withDB.DB()
	query := "SELECT name FROM sqlite_schema WHERE type = 'table'"
	if _, isMySQL := e.store.(*mysqlstore.Store); isMySQL {
		query = "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	}
	rows, err := db.Query(query)
	if err != nil {
		e.t.Fatalf("listing tables: %v", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		names = append(names, n)
	}
	rows.Close()
	if len(names) < 4 {
		e.t.Fatalf("only tables %v", names)
	}
	counts := map[string]int64{}
	for _, n := range names {
		var c int64
		if err := db.QueryRow("SELECT COUNT(*) FROM " + n).Scan(&c); err != nil {
			e.t.Fatalf("counting %s: %v", n, err)
		}
		counts[n] = c
	}
	return counts
}
