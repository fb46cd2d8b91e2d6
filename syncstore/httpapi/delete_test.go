package httpapi_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestDeleteCollection(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		for i, tc := range []struct {
			query string
			left  []string
		}{
			{"", nil},
			{"?ids=a,c,zz", []string{"b", "d"}},
			{"?ids=", []string{"a", "b", "c", "d"}},
			{"?newer=1300000001", []string{"a", "b"}},
			{"?older=1300000002", []string{"c", "d"}},
			{"?newer=1300000000&older=1300000003", []string{"a", "d"}},
			{"?parentid=p1", []string{"b", "d"}},
			{"?index_above=10&index_below=30", []string{"a", "b", "d"}},
			{"?sort=newest&limit=1", []string{"a", "b", "c"}},
			{"?sort=oldest&limit=2", []string{"c", "d"}},
			{"?unknown=1&full=1", nil},
		} {
			// A fresh user per case, so the clock can start over.
			e.clock.set(start)
			c := e.user(fmt.Sprintf("u%d", i))
			fillBookmarks(e, c)
			e.clock.Advance(time.Second)
			want := "1300000005.00"
			c.del("storage/bookmarks"+tc.query).
				expect(http.StatusOK, want).
				expectHeader("X-Weave-Timestamp", want).
				expectHeader("Content-Type", "application/json")
			got := ids(t, c.get("storage/bookmarks"), false)
			if !slices.Equal(got, tc.left) {
				t.Errorf("DELETE %s left %v, want %v", tc.query, got, tc.left)
			}
		}
		// Deleting what never existed is fine.
		e.user("alice").del("storage/never-there").expectStatus(http.StatusOK)
	})
}

func TestDeleteCollectionTimestamps(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		c := e.user("alice")
		fillBookmarks(e, c) // a…d at 1300000000.00 … 1300000003.00
		c.mustPut("storage/history/h", `{"payload":"x"}`)
		c.get("info/collections").expect(http.StatusOK, `{"bookmarks":1300000003.00,"history":1300000004.00}`)
		// Deleting the newest record moves the collection's time back; the
		// delete itself does not count.
		c.del("storage/bookmarks?ids=d").expectStatus(http.StatusOK)
		c.get("info/collections").expect(http.StatusOK, `{"bookmarks":1300000002.00,"history":1300000004.00}`)
		// An emptied collection disappears.
		c.del("storage/bookmarks").expectStatus(http.StatusOK)
		c.get("info/collections").expect(http.StatusOK, `{"history":1300000004.00}`)
		c.get("info/collection_counts").expect(http.StatusOK, `{"history":1}`)
	})
}

func TestDeleteStorage(t *testing.T) {
	withEnv(t, nil, func(t *testing.T, e *env) {
		alice, bob := e.user("alice"), e.user("bob")
		fillBookmarks(e, alice)
		alice.mustPut("storage/meta/global", `{"payload":"m"}`)
		alice.mustPut("storage/custom-things/x", `{"payload":"m"}`)
		bob.mustPut("storage/meta/global", `{"payload":"b"}`)

		// The confirmation header is required (any value, even empty).
		alice.del("storage").expect(http.StatusBadRequest, "4")
		alice.get("info/collection_counts").expect(http.StatusOK, `{"bookmarks":4,"custom-things":1,"meta":1}`)
		alice.do(http.MethodPut, "storage", `{"payload":"x"}`).expect(http.StatusBadRequest, "1")

		e.clock.Advance(time.Second)
		want := e.clock.ts()
		alice.del("storage", header("X-Confirm-Delete", "")).
			expect(http.StatusOK, want).expectHeader("X-Weave-Timestamp", want)
		alice.get("info/collections").expect(http.StatusOK, `{}`)
		alice.get("storage/meta/global").expectStatus(http.StatusNotFound)
		alice.get("storage/bookmarks").expect(http.StatusOK, "[]")
		// The account stays, and other users keep their data.
		alice.del("storage", header("X-Confirm-Delete", "1")).expectStatus(http.StatusOK)
		bob.get("storage/meta/global").expectJSON(http.StatusOK, `{"id":"global","modified":1300000004.00,"payload":"b"}`)
		// The slash variant is the same route.
		alice.del("storage/", header("X-Confirm-Delete", "1")).expectStatus(http.StatusOK)
	})
}
