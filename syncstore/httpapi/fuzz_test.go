package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/syncserver/syncserver/syncstore"
)

// numericParams are the listing parameters whose values must parse; every
// other parameter is taken as text or ignored.
var numericParams = []string{"newer", "older", "index_above", "index_below", "limit", "offset"}

func FuzzParseListing(f *testing.F) {
	for _, s := range []string{
		"", "full=1", "ids=a,b,c&full=1", "ids=", "ids=%2C", "newer=1300000000.50&older=1300000001",
		"index_above=-1.5&index_below=1e3", "limit=10&offset=20&sort=index", "offset=5", "limit=-1&offset=3",
		"sort=newest", "sort=bogus", "parentid=p&predecessorid=%00", "newer=abc", "limit=1.5", "index_above=NaN",
		"newer=9e15", "a=%zz&limit=2", "limit=2;offset=3", "limit=99999999999999999999", "full=&full=1",
		"newer=1&newer=x", "ids=%E2%82%AC,%7B6820f3ca%7D", "client=FxHome&v=1.1b2", "ids=%", "ids=50%off;x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		l, err := parseListing(raw)
		if err != nil {
			if !errors.Is(err, errBadParameter) {
				t.Fatalf("%q: error %v is not errBadParameter", raw, err)
			}
			named := false
			for _, p := range numericParams {
				named = named || strings.HasPrefix(err.Error(), p+"=")
			}
			if !named {
				t.Fatalf("%q: error %q names no numeric parameter", raw, err)
			}
			return
		}
		// Where Go's parser accepts the whole query (no ';', no bad
		// escape), ours reads it the same; elsewhere ours keeps the pairs
		// Go would drop (queryValues).
		vals := url.Values(queryValues(raw))
		if std, err := url.ParseQuery(raw); err == nil && !reflect.DeepEqual(map[string][]string(std), map[string][]string(vals)) {
			t.Fatalf("%q: read as %v, Go's parser reads %v", raw, vals, std)
		}
		q := &l.query
		if q.Limit < 0 || q.Offset < 0 || (q.Offset > 0 && q.Limit == 0) {
			t.Fatalf("%q: limit %d offset %d", raw, q.Limit, q.Offset)
		}
		if (q.IDs != nil) != vals.Has("ids") {
			t.Fatalf("%q: ids filter %q present=%v", raw, q.IDs, vals.Has("ids"))
		}
		if vals.Has("parentid") && (q.ParentID == nil || *q.ParentID != vals.Get("parentid")) {
			t.Fatalf("%q: parentid %v, want %q", raw, q.ParentID, vals.Get("parentid"))
		}
		for _, b := range []*float64{q.IndexAbove, q.IndexBelow} {
			if b != nil && (math.IsNaN(*b) || math.IsInf(*b, 0)) {
				t.Fatalf("%q: non-finite sortindex bound %v", raw, *b)
			}
		}
		// A client that rebuilds the query from what the server understood
		// must be understood the same way.
		again, err := parseListing(encodeListing(l))
		if err != nil {
			t.Fatalf("%q: re-encoded as %q, which fails: %v", raw, encodeListing(l), err)
		}
		if !huge(q.Newer) && !huge(q.Older) && !reflect.DeepEqual(again, l) {
			t.Fatalf("%q: re-encoded as %q, parsed as %+v, want %+v", raw, encodeListing(l), again.query, l.query)
		}
	})
}

// huge reports timestamps beyond 2^53 centiseconds, which no float64
// round trip can preserve to the centisecond.
func huge(ts *syncstore.Timestamp) bool {
	return ts != nil && math.Abs(float64(*ts)) >= 1<<53
}

// encodeListing writes l back as a query string, the way a client would.
func encodeListing(l *listing) string {
	q := &l.query
	v := url.Values{}
	if q.IDs != nil {
		v.Set("ids", strings.Join(q.IDs, ","))
	}
	if q.ParentID != nil {
		v.Set("parentid", *q.ParentID)
	}
	if q.PredecessorID != nil {
		v.Set("predecessorid", *q.PredecessorID)
	}
	if q.Newer != nil {
		v.Set("newer", q.Newer.String())
	}
	if q.Older != nil {
		v.Set("older", q.Older.String())
	}
	if q.IndexAbove != nil {
		v.Set("index_above", strconv.FormatFloat(*q.IndexAbove, 'g', -1, 64))
	}
	if q.IndexBelow != nil {
		v.Set("index_below", strconv.FormatFloat(*q.IndexBelow, 'g', -1, 64))
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Offset > 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	switch q.Sort {
	case syncstore.SortOldest:
		v.Set("sort", "oldest")
	case syncstore.SortNewest:
		v.Set("sort", "newest")
	case syncstore.SortIndex:
		v.Set("sort", "index")
	}
	if l.full {
		v.Set("full", "1")
	}
	return v.Encode()
}

// methods are the HTTP methods the router is asked about.
var methods = []string{"GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"}

func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/__heartbeat__", "/1.1/alice/info/collections", "/1.0/Alice/info/quota/", "/1/bob/storage",
		"/1.1/alice/storage/bookmarks", "/1.1/alice/storage/bookmarks/%7B6820f3ca%7D", "/1.1/al%69ce/storage/a%2Fb/c%2Cd",
		"/user/1.0/alice", "/user/1/alice/node/weave", "/user/1.0/alice/password", "/user/1.0/alice/password_reset",
		"/user/1.0/alice/email", "/misc/1.0/captcha_html", "/1.1//storage", "/1.1/alice/storage//", "/2.0/alice/storage",
		"/1.1/a%zz/storage", "/1.1/" + strings.Repeat("a", 33) + "/storage", "/1.1/alice/storage/c/id%20with%3Fquery%23",
		"1.1/alice/storage", "/1.1/alice/storage/c/%", "/1.1/alice/storage/c/%C3%A9",
		"//1.0/alice/storage", "/user//1.0//alice/", "//1.1/", "/1.1//%zz/storage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt := parseRoute(path)
		if rt.kind == routeUnknown {
			if rt != (route{}) {
				t.Fatalf("%q: unknown route carries fields %+v", path, rt)
			}
			return
		}
		for _, m := range methods {
			if e := endpointOf(&rt, m); rt.allows(m) && e == EndpointUnknown {
				t.Fatalf("%q: %s allowed but labelled %q", path, m, e)
			}
		}
		if rt.kind != routeHeartbeat && rt.kind != routeCaptcha {
			if !syncstore.ValidUsername(rt.user) {
				t.Fatalf("%q: routed with invalid username %q", path, rt.user)
			}
			// The shim routes by Request.User: it must see the same user
			// the handler serves, however the fixed segments are escaped.
			if q := Parse("GET", path); q.User() == "" || q.User() != syncstore.NormalizeUsername(rt.user) {
				t.Fatalf("%q: route user %q but Request.User says %q", path, rt.user, q.User())
			}
		}
		// One trailing slash is ignored (docs/protocol.md §2.1).
		if !strings.HasSuffix(path, "/") {
			if slash := parseRoute(path + "/"); slash != rt {
				t.Fatalf("%q: with a trailing slash routes to %+v, without to %+v", path, slash, rt)
			}
		}
		// A client escaping the decoded segments reaches the same route.
		if again := parseRoute(buildPath(&rt)); again != rt {
			t.Fatalf("%q: routed to %+v; rebuilt as %q, which routes to %+v", path, rt, buildPath(&rt), again)
		}
	})
}

// buildPath writes the canonical escaped path of a route.
func buildPath(rt *route) string {
	esc := url.PathEscape
	switch rt.kind {
	case routeHeartbeat:
		return "/" + segmentHeartbeat
	case routeInfo:
		return "/1.1/" + esc(rt.user) + "/info/" + rt.info
	case routeStorage:
		return "/1.1/" + esc(rt.user) + "/storage"
	case routeCollection:
		return "/1.1/" + esc(rt.user) + "/storage/" + esc(rt.collection)
	case routeItem:
		return "/1.1/" + esc(rt.user) + "/storage/" + esc(rt.collection) + "/" + esc(rt.id)
	case routeUser:
		return "/user/1.0/" + esc(rt.user)
	case routeUserNode:
		return "/user/1.0/" + esc(rt.user) + "/node/weave"
	case routeUserPassword:
		return "/user/1.0/" + esc(rt.user) + "/password"
	case routeUserReset:
		return "/user/1.0/" + esc(rt.user) + "/password_reset"
	case routeUserEmail:
		return "/user/1.0/" + esc(rt.user) + "/email"
	case routeCaptcha:
		return "/misc/1.0/captcha_html"
	}
	return ""
}

func FuzzForEachElement(f *testing.F) {
	for _, s := range []string{
		`[]`, `[ ]`, `[1]`, `[{"id":"a"},{"id":"b"}]`, ` [ {"id":"a,]"} , "x\"]" , [1,[2]] ] `,
		`[{"payload":"{\"a\":[1,2]}"}]`, "[\n{\"id\":\"\\\\\"}\t,\r\nnull]", `[[],{},"",0,-1.5e3,true,false,null]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body := bytes.TrimSpace(data)
		if !json.Valid(body) || body[0] != '[' {
			return
		}
		var want []json.RawMessage
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		var got [][]byte
		forEachElement(body, func(e []byte) { got = append(got, e) })
		if len(got) != len(want) || countElements(body) != len(want) {
			t.Fatalf("%q: %d elements (count %d), encoding/json finds %d", body, len(got), countElements(body), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q: element %d is %q, encoding/json says %q", body, i, got[i], want[i])
			}
		}
	})
}
