package httpapi_test

import (
	"context"
	"net/http"
	"testing"
)

// A request that authenticated just before its account was deleted (by
// the account's own DELETE /user/1.0/<u> in parallel, or an operator)
// finds no user when it writes. That is not a database failure: the
// credentials no longer name an account, so the answer is the 401 a
// moment later would get (docs/protocol.md §2.4, §7.2), not a 503 whose
// Retry-After stops the client for half an hour (§7.3). Nothing is
// written.
func TestWriteAfterAccountDeletedIs401(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		c.mustPut("storage/bookmarks/a", `{"payload":"x"}`)
		u, err := e.store.LookupUser(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		// The credentials cache still holds alice: her requests
		// authenticate, as those already past authentication did.
		if err := e.store.DeleteUser(context.Background(), u.ID); err != nil {
			t.Fatal(err)
		}
		for _, r := range []*resp{
			c.post("storage/bookmarks", `[{"id":"b","payload":"y"}]`),
			c.post("storage/bookmarks", `{"id":"b","payload":"y"}`),
			c.put("storage/bookmarks/b", `{"payload":"y"}`),
			c.del("storage/bookmarks/a"),
			c.del("storage/bookmarks?ids=a"),
			c.del("storage", header("X-Confirm-Delete", "1")),
			e.do(http.MethodPost, "/user/1.0/alice/email", "alice2@example.com", basicAuth(c.name, c.password)),
		} {
			r.expect(http.StatusUnauthorized, "authentication failed")
		}
		if _, err := e.store.LookupUser(context.Background(), "alice"); err == nil {
			t.Error("a write brought the deleted account back")
		}
	})
}
