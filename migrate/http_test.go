package migrate_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/syncserver/syncserver/migrate/legacytest"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// TestReadBackOverHTTP: after the migration a client reading through the
// native protocol handler, logging in with its old password, sees exactly
// what the legacy tables held, timestamps rendered with two decimals.
func TestReadBackOverHTTP(t *testing.T) {
	for _, l := range []legacytest.Layout{layouts[0], layouts[2]} {
		t.Run(l.String(), func(t *testing.T) {
			e := newEnv(t, l, smallSpec, openSQLite)
			ctx := testContext(t)
			auth, err := syncstore.NewAuthenticator(e.native, syncstore.AuthConfig{BcryptCost: 4})
			if err != nil {
				t.Fatal(err)
			}
			h, err := httpapi.New(httpapi.Config{Store: e.native, Auth: auth, Clock: e.clock.now})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range e.users {
				if _, err := e.m.MigrateUser(ctx, u.Name); err != nil {
					t.Fatal(err)
				}
				checkHTTP(t, h, u)
			}
		})
	}
}

func get(t *testing.T, h http.Handler, u legacytest.User, path string, into any) {
	t.Helper()
	// Clients use the lower-cased name; the password is the legacy one.
	name := syncstore.NormalizeUsername(u.Name)
	req := httptest.NewRequest("GET", "/1.1/"+name+path, nil)
	req.SetBasicAuth(name, u.Password)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), into); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func checkHTTP(t *testing.T, h http.Handler, u legacytest.User) {
	t.Helper()
	byColl := map[string]map[string]legacytest.Record{}
	newest := map[string]int64{}
	for _, r := range u.Records {
		if byColl[r.Collection] == nil {
			byColl[r.Collection] = map[string]legacytest.Record{}
		}
		byColl[r.Collection][r.ID] = r
		newest[r.Collection] = max(newest[r.Collection], r.Modified)
	}
	var info map[string]json.RawMessage
	get(t, h, u, "/info/collections", &info)
	if len(info) != len(newest) {
		t.Errorf("info/collections has %d collections, want %d", len(info), len(newest))
	}
	for c, ts := range newest {
		if want := syncstore.Timestamp(ts).String(); string(info[c]) != want {
			t.Errorf("info/collections[%s] = %s, want %s", c, info[c], want)
		}
	}
	for c, recs := range byColl {
		var list []map[string]json.RawMessage
		get(t, h, u, "/storage/"+url.PathEscape(c)+"?full=1", &list)
		if len(list) != len(recs) {
			t.Errorf("%s: %d records over HTTP, want %d", c, len(list), len(recs))
		}
		for _, got := range list {
			var id string
			json.Unmarshal(got["id"], &id)
			w, ok := recs[id]
			if !ok {
				t.Errorf("%s: unexpected record %q", c, id)
				continue
			}
			if want := syncstore.Timestamp(w.Modified).String(); string(got["modified"]) != want {
				t.Errorf("%s/%s: modified %s, want %s", c, id, got["modified"], want)
			}
			checkField(t, c, id, "sortindex", got, w.SortIndex, func(v int64) string { return strconv.FormatInt(v, 10) })
			checkStringField(t, c, id, "payload", got, w.Payload)
			checkStringField(t, c, id, "parentid", got, w.ParentID)
			checkStringField(t, c, id, "predecessorid", got, w.PredecessorID)
		}
	}
}

func checkField[T any](t *testing.T, c, id, name string, got map[string]json.RawMessage, want *T, format func(T) string) {
	t.Helper()
	raw, ok := got[name]
	switch {
	case want == nil && ok:
		t.Errorf("%s/%s: %s = %s, want absent", c, id, name, raw)
	case want != nil && string(raw) != format(*want):
		t.Errorf("%s/%s: %s = %s, want %s", c, id, name, raw, format(*want))
	}
}

func checkStringField(t *testing.T, c, id, name string, got map[string]json.RawMessage, want *string) {
	t.Helper()
	raw, ok := got[name]
	if want == nil {
		if ok {
			t.Errorf("%s/%s: %s present, want absent", c, id, name)
		}
		return
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || s != *want {
		t.Errorf("%s/%s: %s differs (%d bytes, want %d)", c, id, name, len(s), len(*want))
	}
}
