package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/deadline"
	"github.com/syncserver/syncserver/syncstore/httpapi"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// notBefore fails unless the response's X-Weave-Timestamp is at least
// floor: a client's clock must never go backwards (docs/protocol.md §3.2).
func (r *resp) notBefore(floor string) *resp {
	r.t.Helper()
	got, err := syncstore.ParseTimestamp(r.timestamp())
	want, werr := syncstore.ParseTimestamp(floor)
	if err != nil || werr != nil || got < want {
		r.t.Errorf("%s: X-Weave-Timestamp %s is before %s, a timestamp this user was already given (status %d)",
			r.req, r.timestamp(), floor, r.code)
	}
	return r
}

// TestTimestampNeverGoesBack writes twice within one 10 ms tick, so the
// second write is stamped a tick ahead of the clock; every later answer
// to that user, reads and refused writes alike, must not be older.
func TestTimestampNeverGoesBack(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		first := c.mustPut("storage/col/a", `{"payload":"1"}`)
		second := c.post("storage/col", `[{"id":"b","payload":"2"}]`).expectStatus(http.StatusOK).timestamp()
		if second <= first {
			t.Fatalf("second write %s is not after the first %s", second, first)
		}
		if now := e.clock.ts(); now >= second {
			t.Fatalf("test premise: the clock (%s) must be behind the second write (%s)", now, second)
		}
		c.get("info/collections").expectStatus(http.StatusOK).notBefore(second)
		c.get("info/quota").expectStatus(http.StatusOK).notBefore(second)
		c.get("storage/col?full=1").expectStatus(http.StatusOK).notBefore(second)
		c.get("storage/col/a").expectStatus(http.StatusOK).notBefore(second)
		c.get("storage/col/missing").expectStatus(http.StatusNotFound).notBefore(second)
		c.put("storage/col/a", `{"payload":`).expect(http.StatusBadRequest, "6").notBefore(second)
		c.put("storage/col/a", `{"payload":"x"}`, header("X-If-Unmodified-Since", first)).
			expect(http.StatusPreconditionFailed, "4").notBefore(second)
		// A batch with nothing to write answers without a transaction; its
		// "modified" is the same time as the header.
		r := c.post("storage/col", `[{"id":"z","sortindex":"x"}]`).expectStatus(http.StatusOK).notBefore(second)
		r.expectJSON(http.StatusOK, `{"modified":`+r.timestamp()+`,"success":[],"failed":{"z":["invalid sortindex"]}}`)

		// The next write still goes after everything answered so far.
		third := c.mustPut("storage/col/c", `{"payload":"3"}`)
		if third <= second {
			t.Errorf("third write %s is not after %s", third, second)
		}
		c.get("storage/col/c").notBefore(third)
	})
}

// TestTimestampAcrossInstances runs two handlers, each with its own store
// connections and clock, on one database, as several servers behind a
// load balancer do. The second instance's clock is behind the first's:
// reads it answers must still not go back before writes the first made.
func TestTimestampAcrossInstances(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newEnv(t, b, nil)
		c := e.user("alice")
		// Several writes in one tick push the user's timestamp ahead of
		// both clocks.
		var last string
		for _, id := range []string{"a", "b", "c"} {
			last = c.mustPut("storage/col/"+id, `{"payload":"x"}`)
		}

		behind := &fakeClock{now: e.clock.Now().Add(-2 * time.Second)}
		other := secondInstance(t, e, behind.Now)
		req := func(method, path, body string, opts ...reqOpt) *resp {
			t.Helper()
			r, _ := http.NewRequest(method, "/1.1/alice/"+path, strings.NewReader(body))
			r.SetBasicAuth(c.name, c.password)
			for _, o := range opts {
				o(r)
			}
			w := &recorder{header: http.Header{}}
			other.ServeHTTP(w, r)
			return &resp{t: t, req: method + " " + path + " (second instance)", code: w.code, header: w.header, body: w.body.String()}
		}
		// The collection is named although this instance never saw it.
		info := req(http.MethodGet, "info/collections", "").expectStatus(http.StatusOK).notBefore(last)
		if !strings.HasPrefix(info.body, `{"col":`) {
			t.Errorf("info/collections on the second instance: %s", info.body)
		}
		req(http.MethodGet, "storage/col/a", "").expectStatus(http.StatusOK).notBefore(last)
		// A record read carries the user's timestamp also when it is not
		// there, in a known collection or not.
		req(http.MethodGet, "storage/col/missing", "").expectStatus(http.StatusNotFound).notBefore(last)
		req(http.MethodGet, "storage/nocoll/a", "").expectStatus(http.StatusNotFound).notBefore(last)
		req(http.MethodGet, "storage/col?full=1", "").expectStatus(http.StatusOK).notBefore(last)
		// Listings that return no row, and refused ones, too.
		req(http.MethodGet, "storage/col?newer=9999999999", "").expectStatus(http.StatusOK).notBefore(last)
		req(http.MethodGet, "storage/nocoll", "").expectStatus(http.StatusOK).notBefore(last)
		req(http.MethodGet, "storage/col?limit=x", "").expectStatus(http.StatusBadRequest).notBefore(last)
		// Writes that commit nothing answer without a commit timestamp:
		// they too must read the user's.
		req(http.MethodPost, "storage/col", `[{"id":"z","sortindex":"x"}]`).expectStatus(http.StatusOK).notBefore(last)
		req(http.MethodPost, "storage/col", `[{`).expectStatus(http.StatusBadRequest).notBefore(last)
		req(http.MethodPut, "storage/col/a", `{"payload":"y"}`, header("X-If-Unmodified-Since", "1.00")).
			expectStatus(http.StatusPreconditionFailed).notBefore(last)
		req(http.MethodDelete, "storage/col?ids=a", "", header("X-If-Unmodified-Since", "1.00")).
			expectStatus(http.StatusPreconditionFailed).notBefore(last)
		req(http.MethodPut, "storage", "").expectStatus(http.StatusBadRequest).notBefore(last)
		req(http.MethodDelete, "storage", "").expectStatus(http.StatusBadRequest).notBefore(last)
		// Writes that commit answer after it, with their own timestamp.
		put := req(http.MethodPut, "storage/col/d", `{"payload":"y"}`).expectStatus(http.StatusOK)
		put.notBefore(last)
		if put.timestamp() == last {
			t.Errorf("a write on the second instance answered %s, the timestamp of the last write before it", last)
		}
		req(http.MethodDelete, "storage/col?ids=a", "").expectStatus(http.StatusOK).notBefore(put.timestamp())
	})
}

// countingStore counts the UserTimestamp reads and can make them fail.
type countingStore struct {
	syncstore.Store
	reads atomic.Int64
	fail  atomic.Bool
}

func (s *countingStore) UserTimestamp(ctx context.Context, userID int64) (syncstore.Timestamp, error) {
	s.reads.Add(1)
	if s.fail.Load() {
		return 0, errors.New("database gone")
	}
	return s.Store.UserTimestamp(ctx, userID)
}

// TestCommittedWritesSkipUserRead: a write that commits answers with its
// commit timestamp without reading the user's last write; writes that
// commit nothing, and reads, still read it, and when that read fails
// they answer 503 as before, whatever they would have answered.
func TestCommittedWritesSkipUserRead(t *testing.T) {
	var counted *countingStore
	e := newEnv(t, backend{"sqlite", func(t testing.TB, clock func() time.Time) syncstore.Store {
		counted = &countingStore{Store: openSQLite(t, clock)}
		return counted
	}}, nil)
	c := e.user("alice")
	c.mustPut("storage/col/a", `{"payload":"1"}`)
	counted.reads.Store(0)
	c.post("storage/col", `[{"id":"b","payload":"2"},{"id":"c","payload":"3"}]`).expectStatus(http.StatusOK)
	c.put("storage/col/d", `{"payload":"4"}`).expectStatus(http.StatusOK)
	c.del("storage/col?ids=b,c").expectStatus(http.StatusOK)
	c.del("storage/col/d").expectStatus(http.StatusOK)
	c.del("storage", header("X-Confirm-Delete", "1")).expectStatus(http.StatusOK)
	if n := counted.reads.Load(); n != 0 {
		t.Errorf("committed writes read the user's timestamp %d times", n)
	}
	c.post("storage/col", `[{`).expectStatus(http.StatusBadRequest)
	c.get("storage/col/a").expectStatus(http.StatusNotFound)
	if n := counted.reads.Load(); n != 2 {
		t.Errorf("a refused write and a read made %d reads of the user's timestamp, want 2", n)
	}
	counted.fail.Store(true)
	c.post("storage/col", `[{`).expectStatus(http.StatusServiceUnavailable)
	c.put("storage/col/a", `{"payload":`).expectStatus(http.StatusServiceUnavailable)
	c.post("storage/col", `[{"id":"z","sortindex":"x"}]`).expectStatus(http.StatusServiceUnavailable)
}

// stampingStore is a countingStore over a store that reads a record with
// the user's timestamp (syncstore.RecordStamper).
type stampingStore struct {
	*countingStore
	rs      syncstore.RecordStamper
	inner   syncstore.Store
	stamped atomic.Int64
}

func (s *stampingStore) GetRecordsAndLast(ctx context.Context, userID int64, collection string, q *syncstore.Query) ([]syncstore.WBO, syncstore.Timestamp, error) {
	s.stamped.Add(1)
	return s.inner.(syncstore.ListStamper).GetRecordsAndLast(ctx, userID, collection, q)
}

func (s *stampingStore) GetRecordAndLast(ctx context.Context, userID int64, collection, id string) (*syncstore.WBO, syncstore.Timestamp, error) {
	s.stamped.Add(1)
	return s.rs.GetRecordAndLast(ctx, userID, collection, id)
}

// TestGetItemReadsUserWithRecord: GET of a record or a collection from a
// store that reads the user's timestamp with it makes no separate UserTimestamp read, and
// its answer is still not before the user's last write, found or not. The
// store is behind the deadline wrapper, as the server runs it.
func TestGetItemReadsUserWithRecord(t *testing.T) {
	var st *stampingStore
	e := newEnv(t, backend{"sqlite", func(t testing.TB, clock func() time.Time) syncstore.Store {
		inner := deadline.Wrap(openSQLite(t, clock), time.Minute)
		st = &stampingStore{countingStore: &countingStore{Store: inner}, rs: inner.(syncstore.RecordStamper), inner: inner}
		return st
	}}, nil)
	c := e.user("alice")
	var last string
	for _, id := range []string{"a", "b", "c"} {
		last = c.mustPut("storage/col/"+id, `{"payload":"x"}`)
	}
	if now := e.clock.ts(); now >= last {
		t.Fatalf("test premise: the clock (%s) must be behind the last write (%s)", now, last)
	}
	st.reads.Store(0)
	c.get("storage/col/a").expectStatus(http.StatusOK).notBefore(last)
	c.get("storage/col/missing").expectStatus(http.StatusNotFound).notBefore(last)
	c.get("storage/nocoll/a").expectStatus(http.StatusNotFound).notBefore(last)
	// Listings: rows bring the timestamp; an empty one reads it after,
	// inside the store, still one call.
	c.get("storage/col?full=1").expectStatus(http.StatusOK).notBefore(last)
	c.get("storage/col?ids=a,b&sort=index").expectStatus(http.StatusOK).notBefore(last)
	c.get("storage/col?newer=9999999999").expectStatus(http.StatusOK).notBefore(last)
	c.get("storage/nocoll").expectStatus(http.StatusOK).notBefore(last)
	if n := st.reads.Load(); n != 0 {
		t.Errorf("GETs of records and collections read the user's timestamp separately %d times", n)
	}
	if n := st.stamped.Load(); n != 7 {
		t.Errorf("GETs of records and collections made %d combined reads, want 7", n)
	}
	// Invalid ids and collections are refused before any read of the
	// record, as before: they still answer after the user's timestamp.
	c.get("storage/col/" + strings.Repeat("x", 65)).expectStatus(http.StatusNotFound).notBefore(last)
}

// recorder keeps a response's status and headers.
type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// secondInstance opens another store on e's database, with its own
// connections and clock, and a handler over it.
func secondInstance(t *testing.T, e *env, clock func() time.Time) *httpapi.Handler {
	t.Helper()
	ctx := context.Background()
	var store syncstore.Store
	switch s := e.store.(type) {
	case *sqlitestore.Store:
		other, err := sqlitestore.Open(ctx, sqlitestore.Config{Dir: filepath.Dir(s.Path()), Clock: clock})
		if err != nil {
			t.Fatalf("opening a second SQLite store: %v", err)
		}
		store = other
	case *mysqlstore.Store:
		var name string
		if err := s.DB().QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		cfg, err := mysql.ParseDSN(testservices.MySQLServerDSN())
		if err != nil {
			t.Fatal(err)
		}
		cfg.DBName = name
		other, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: cfg.FormatDSN(), Clock: clock})
		if err != nil {
			t.Fatalf("opening a second MySQL store: %v", err)
		}
		store = other
	default:
		t.Fatalf("no second instance for %T", e.store)
	}
	t.Cleanup(func() { store.Close() })
	auth, err := syncstore.NewAuthenticator(store, syncstore.AuthConfig{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Config{Store: store, Auth: auth, Logger: zap.NewNop(), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestInfoCollectionsAfterDroppedCollection: the user's newest write
// deleted a whole collection, so no collection timestamp shows it, yet
// info/collections (which reads the user's timestamp with the
// collections' in one statement) must not answer an older time. Run on
// the stores as opened, behind the deadline wrapper, and on a store that
// offers only the two separate reads.
func TestInfoCollectionsAfterDroppedCollection(t *testing.T) {
	wraps := []struct {
		name string
		wrap func(syncstore.Store) syncstore.Store
	}{
		{"plain", func(s syncstore.Store) syncstore.Store { return s }},
		{"deadline", func(s syncstore.Store) syncstore.Store { return deadline.Wrap(s, time.Minute) }},
		{"two-reads", func(s syncstore.Store) syncstore.Store { return struct{ syncstore.Store }{s} }},
	}
	for _, w := range wraps {
		t.Run(w.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				e := newEnv(t, backend{b.name, func(t testing.TB, clock func() time.Time) syncstore.Store {
					return w.wrap(b.open(t, clock))
				}}, nil)
				c := e.user("alice")
				c.mustPut("storage/keep/a", `{"payload":"1"}`)
				c.mustPut("storage/col/a", `{"payload":"1"}`)
				c.mustPut("storage/col/b", `{"payload":"2"}`)
				dropped := c.del("storage/col").expectStatus(http.StatusOK).timestamp()
				if now := e.clock.ts(); now >= dropped {
					t.Fatalf("test premise: the clock (%s) must be behind the delete (%s)", now, dropped)
				}
				r := c.get("info/collections").expectStatus(http.StatusOK).notBefore(dropped)
				if got := r.header.Get("X-Weave-Records"); got != "1" {
					t.Errorf("X-Weave-Records = %q, want 1 (only keep)", got)
				}
			})
		})
	}
}
