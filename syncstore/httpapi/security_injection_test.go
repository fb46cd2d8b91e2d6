package httpapi_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// hostile are strings that change the meaning of a statement built by
// concatenation, or of a LIKE pattern, in MySQL or SQLite.
var hostile = []string{
	`' OR '1'='1`,
	`' OR 1=1 -- `,
	`'; DROP TABLE wbo; --`,
	`"; DROP TABLE users; --`,
	`\'; DELETE FROM wbo; #`,
	`1' UNION SELECT password_hash, 1 FROM users -- `,
	`' AND SLEEP(3) AND '1'='1`,
	`%`, `_`, `a%`, `%'||'`, `*`,
	`\`, `\\`, `\'`, `\"`, `\0`, "\x00", "\x1a", "\t\r\n",
	"ʼ OR 1=1 -- ", "＇ OR 1=1 -- ", "\u2019 OR 1=1",
	`*/ OR /*`, `$1`, `?`, `??`, `:id`, `@x`, "`wbo`", `x');--`,
}

// hostileIDs are the hostile strings a record id may hold (printable
// ASCII without '/' and ','), plus a few ids built from them.
func hostileIDs() []string {
	var ids []string
	for _, s := range append(slices.Clone(hostile), `%25`, `a b#c?d=e&f`, `{x'y}`, `..`, `.`, `-1`, `0x00`) {
		if syncstore.ValidID(s) && !slices.Contains(ids, s) {
			ids = append(ids, s)
		}
	}
	return ids
}

// TestSQLInjection sends every user-controlled string of the protocol
// with SQL metacharacters: usernames, collection names, ids, ids= lists,
// parentid/predecessorid filters, sort, payloads, e-mail addresses and
// passwords. Every value comes back exactly as sent, filters match
// exactly, the victim's account is untouched and every table is still
// there.
func TestSQLInjection(t *testing.T) {
	withSecurityEnv(t, func(t *testing.T, e *env) {
		victim := e.user("victim")
		victim.mustPut("storage/bookmarks/v1", `{"payload":"victim-data","parentid":"p","predecessorid":"q","sortindex":1}`)
		victim.mustPut("storage/abc/v2", `{"payload":"victim-abc"}`)
		victimBefore := e.state("victim")
		tablesBefore := sortedKeys(e.tables())

		att := e.user("attacker")
		ids := hostileIDs()
		if len(ids) < 25 {
			t.Fatalf("only %d hostile ids", len(ids))
		}
		t.Logf("%d hostile strings, %d of them usable as record ids", len(hostile), len(ids))
		want := map[string]syncstore.WBO{} // what the attacker's bookmarks must hold
		for i, id := range ids {
			payload := hostile[i%len(hostile)] + "|" + id
			parent := hostile[(i+1)%len(hostile)]
			pred := id
			rec := map[string]any{"payload": payload, "parentid": parent, "predecessorid": pred, "sortindex": i}
			body, _ := json.Marshal(rec)
			if i%2 == 0 {
				att.put("storage/bookmarks/"+url.PathEscape(id), string(body)).expectStatus(http.StatusOK)
			} else {
				rec["id"] = id
				batch, _ := json.Marshal([]any{rec})
				r := att.post("storage/bookmarks", string(batch)).expectStatus(http.StatusOK)
				var res struct {
					Success []string
					Failed  map[string][]string
				}
				if err := json.Unmarshal([]byte(r.body), &res); err != nil || len(res.Success) != 1 || res.Success[0] != id {
					t.Errorf("POST id %q: %s", id, r.body)
				}
			}
			si := int64(i)
			want[id] = syncstore.WBO{ID: id, Payload: &payload, ParentID: &parent, PredecessorID: &pred, SortIndex: &si}
		}

		// Every record reads back exactly, by its URL and through ids=.
		for _, id := range ids {
			got := decodeRecord(t, att.get("storage/bookmarks/"+url.PathEscape(id)).expectStatus(http.StatusOK).body)
			expectRecord(t, id, got, want[id])
			list := decodeRecords(t, att.get("storage/bookmarks?full=1&ids="+url.QueryEscape(id)).expectStatus(http.StatusOK).body)
			if len(list) != 1 {
				t.Errorf("ids=%q: %d records", id, len(list))
				continue
			}
			expectRecord(t, id, list[0], want[id])
		}
		// An ids= list matches exactly its members; wildcards match
		// nothing but themselves.
		for _, list := range [][]string{{ids[0], ids[1]}, {"%", "_"}, {"' OR '1'='1", "x"}, {"nothing%"}, {`\`, `\\`}} {
			got := idList(t, att.get("storage/bookmarks?ids="+url.QueryEscape(strings.Join(list, ","))).expectStatus(http.StatusOK).body)
			var exp []string
			for _, id := range list {
				if _, ok := want[id]; ok {
					exp = append(exp, id)
				}
			}
			if !sameSet(got, exp) {
				t.Errorf("ids=%q: got %q, want %q", list, got, exp)
			}
		}
		// parentid and predecessorid filters compare exactly.
		for _, v := range append(slices.Clone(hostile), "%", "_%", "") {
			var wantParent, wantPred []string
			for id, w := range want {
				if *w.ParentID == v {
					wantParent = append(wantParent, id)
				}
				if *w.PredecessorID == v {
					wantPred = append(wantPred, id)
				}
			}
			if got := idList(t, att.get("storage/bookmarks?parentid="+url.QueryEscape(v)).expectStatus(http.StatusOK).body); !sameSet(got, wantParent) {
				t.Errorf("parentid=%q: got %q, want %q", v, got, wantParent)
			}
			if got := idList(t, att.get("storage/bookmarks?predecessorid="+url.QueryEscape(v)).expectStatus(http.StatusOK).body); !sameSet(got, wantPred) {
				t.Errorf("predecessorid=%q: got %q, want %q", v, got, wantPred)
			}
			// Unknown sort values are ignored, never interpreted.
			if got := idList(t, att.get("storage/bookmarks?limit=1000&sort="+url.QueryEscape(v)).expectStatus(http.StatusOK).body); len(got) != len(want) {
				t.Errorf("sort=%q: %d ids, want %d", v, len(got), len(want))
			}
		}
		// Numeric parameters refuse text.
		for _, p := range []string{"newer", "older", "index_above", "index_below", "limit", "offset"} {
			att.get("storage/bookmarks?"+p+"="+url.QueryEscape("1 OR 1=1")).expect(http.StatusBadRequest, "1")
		}
		// Deleting by a hostile id deletes that record only.
		del := ids[0]
		att.del("storage/bookmarks?ids=" + url.QueryEscape(del)).expectStatus(http.StatusOK)
		att.get("storage/bookmarks/" + url.PathEscape(del)).expectStatus(http.StatusNotFound)
		delete(want, del)
		del = "%"
		att.del("storage/bookmarks/" + url.PathEscape(del)).expectStatus(http.StatusOK)
		delete(want, del)
		if got := idList(t, att.get("storage/bookmarks").body); !sameSet(got, mapKeys(want)) {
			t.Errorf("after two deletes: %d ids, want %d", len(got), len(want))
		}

		// Collection names are restricted to [A-Za-z0-9._-]; the ones with
		// metacharacters are refused and "_" is not a wildcard.
		for _, coll := range hostile {
			if syncstore.ValidCollection(coll) {
				continue
			}
			att.put("storage/"+url.PathEscape(coll)+"/x", `{"payload":"x"}`).expect(http.StatusBadRequest, "13")
			att.get("storage/"+url.PathEscape(coll)).expect(http.StatusBadRequest, "13")
		}
		att.mustPut("storage/a_c/x", `{"payload":"in a_c"}`)
		att.mustPut("storage/a.c/y", `{"payload":"in a.c"}`)
		att.get("storage/abc").expectJSON(http.StatusOK, `[]`)
		att.get("storage/a_c").expectJSON(http.StatusOK, `["x"]`)
		att.del("storage/a_c").expectStatus(http.StatusOK)
		att.get("storage/a.c").expectJSON(http.StatusOK, `["y"]`)

		// Usernames: metacharacters never route; "_" and "." are ordinary.
		for _, name := range hostile {
			r := e.do(http.MethodGet, "/1.1/"+url.PathEscape(name)+"/info/collections", "", basicAuth(name, "password-"+name))
			if r.code != http.StatusNotFound && r.code != http.StatusUnauthorized {
				t.Errorf("username %q: %d", name, r.code)
			}
			e.do(http.MethodGet, "/1.1/attacker/info/collections", "", basicAuth(name, "password-attacker")).expectStatus(http.StatusUnauthorized)
		}
		us := e.user("v_ctim")
		us.mustPut("storage/bookmarks/u", `{"payload":"v_ctim"}`)
		e.do(http.MethodGet, "/1.1/victim/storage/bookmarks", "", basicAuth("v_ctim", "password-v_ctim")).expectStatus(http.StatusUnauthorized)
		e.do(http.MethodGet, "/1.1/v_ctim/storage/bookmarks", "", basicAuth("victim", "password-victim")).expectStatus(http.StatusUnauthorized)
		us.get("storage/bookmarks").expectJSON(http.StatusOK, `["u"]`)

		// E-mail addresses and passwords are stored and compared exactly.
		for i, c := range []struct{ email, newEmail string }{
			{`o'reilly'OR'1'='1@example.com`, `"' OR 1=1 -- "@example.org`},
			{`"'; DROP TABLE users; --"@example.com`, `x'--DELETE*FROM*users@example.org`},
			{`"\\' OR 1=1 #"@example.com`, `"\\"@example.org`},
			{`x%_*'--@example.com`, `%@example.org`},
		} {
			email := c.email
			name := httpapi.UsernameFromEmail(email)
			password := hostile[i] + "-pad-to-length"
			body, _ := json.Marshal(map[string]string{"email": email, "password": password})
			e.do(http.MethodPut, "/user/1.0/"+name, string(body)).expect(http.StatusOK, name)
			u, err := e.store.LookupUser(context.Background(), name)
			if err != nil || u.Email != email {
				t.Errorf("registered %q: stored e-mail %q, %v", email, u.Email, err)
			}
			e.do(http.MethodGet, "/1.1/"+name+"/info/collections", "", basicAuth(name, password)).expectStatus(http.StatusOK)
			e.do(http.MethodGet, "/1.1/"+name+"/info/collections", "", basicAuth(name, "' OR '1'='1")).expectStatus(http.StatusUnauthorized)
			e.do(http.MethodGet, "/1.1/"+name+"/info/collections", "", basicAuth(name, password[:len(password)-1])).expectStatus(http.StatusUnauthorized)

			e.do(http.MethodPost, "/user/1.0/"+name+"/email", c.newEmail, basicAuth(name, password)).expect(http.StatusOK, c.newEmail)
			if u, err := e.store.LookupUser(context.Background(), name); err != nil || u.Email != c.newEmail {
				t.Errorf("changed e-mail to %q: stored %q, %v", c.newEmail, u.Email, err)
			}
			newPassword := hostile[(i+5)%len(hostile)] + "-new-password"
			e.do(http.MethodPost, "/user/1.0/"+name+"/password", newPassword, basicAuth(name, password)).expect(http.StatusOK, "success")
			e.do(http.MethodGet, "/1.1/"+name+"/info/collections", "", basicAuth(name, newPassword)).expectStatus(http.StatusOK)
			e.do(http.MethodGet, "/1.1/"+name+"/info/collections", "", basicAuth(name, password)).expectStatus(http.StatusUnauthorized)
		}

		if got := e.state("victim"); got != victimBefore {
			t.Errorf("the victim's account changed:\nbefore %s\nafter  %s", victimBefore, got)
		}
		if got := sortedKeys(e.tables()); !reflect.DeepEqual(got, tablesBefore) {
			t.Errorf("tables now %q, were %q", got, tablesBefore)
		}
	})
}

func mapKeys[V any](m map[string]V) []string {
	return slices.Collect(maps.Keys(m))
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

func sameSet(a, b []string) bool {
	return reflect.DeepEqual(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// wireWBO is a record as a client decodes it.
type wireWBO struct {
	ID            string  `json:"id"`
	Payload       *string `json:"payload"`
	ParentID      *string `json:"parentid"`
	PredecessorID *string `json:"predecessorid"`
	SortIndex     *int64  `json:"sortindex"`
}

func decodeRecord(t *testing.T, body string) wireWBO {
	t.Helper()
	var w wireWBO
	if err := json.Unmarshal([]byte(body), &w); err != nil {
		t.Fatalf("record %q: %v", body, err)
	}
	return w
}

func decodeRecords(t *testing.T, body string) []wireWBO {
	t.Helper()
	var ws []wireWBO
	if err := json.Unmarshal([]byte(body), &ws); err != nil {
		t.Fatalf("records %q: %v", body, err)
	}
	return ws
}

func idList(t *testing.T, body string) []string {
	t.Helper()
	var ids []string
	if err := json.Unmarshal([]byte(body), &ids); err != nil {
		t.Fatalf("ids %q: %v", body, err)
	}
	return ids
}

func expectRecord(t *testing.T, id string, got wireWBO, want syncstore.WBO) {
	t.Helper()
	exp := wireWBO{ID: want.ID, Payload: want.Payload, ParentID: want.ParentID, PredecessorID: want.PredecessorID, SortIndex: want.SortIndex}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("record %q: got %s", id, mustJSON(got))
		t.Errorf("          want %s", mustJSON(exp))
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
