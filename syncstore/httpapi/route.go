package httpapi

import (
	"net/url"
	"strings"

	"github.com/syncserver/syncserver/syncstore"
)

// routeKind is a URL pattern of the protocol, independent of the method.
type routeKind uint8

const (
	routeUnknown routeKind = iota
	routeHeartbeat
	routeInfo         // /<ver>/<u>/info/<what>
	routeStorage      // /<ver>/<u>/storage
	routeCollection   // /<ver>/<u>/storage/<collection>
	routeItem         // /<ver>/<u>/storage/<collection>/<id>
	routeUser         // /user/<ver>/<u>
	routeUserNode     // /user/<ver>/<u>/node/weave
	routeUserPassword // /user/<ver>/<u>/password
	routeUserReset    // /user/<ver>/<u>/password_reset
	routeUserEmail    // /user/<ver>/<u>/email
	routeCaptcha      // /misc/<ver>/captcha_html
)

// Path segments the router matches.
const (
	maxRouteSegments   = 5
	infoCollections    = "collections"
	infoCounts         = "collection_counts"
	infoUsage          = "collection_usage"
	infoQuota          = "quota"
	segmentHeartbeat   = "__heartbeat__"
	segmentUserAPI     = "user"
	segmentMiscAPI     = "misc"
	segmentInfo        = "info"
	segmentStorage     = "storage"
	segmentCaptchaHTML = "captcha_html"
)

// allowed lists the methods the route answers, in the form of an Allow
// header (405 responses carry it).
func (k routeKind) allowed() string {
	switch k {
	case routeHeartbeat:
		return "GET, HEAD"
	case routeInfo, routeUserNode:
		return "GET"
	case routeStorage:
		return "DELETE, PUT"
	case routeCollection:
		return "DELETE, GET, POST, PUT"
	case routeItem, routeUser:
		return "DELETE, GET, PUT"
	case routeUserPassword, routeUserEmail:
		return "POST"
	case routeUserReset:
		return "DELETE, GET"
	case routeCaptcha:
		return "GET, POST"
	}
	return ""
}

// route is a parsed request path. Segments are %-decoded. The username is
// syntactically valid and normalized (syncstore.NormalizeUsername); the
// collection name and the id are not checked yet, because a bad one is
// answered with a Weave error after authentication rather than with 404.
type route struct {
	kind       routeKind
	user       string // normalized
	info       string // routeInfo: one of the info* constants
	collection string
	id         string
}

// allows reports whether method is served on the route.
func (rt *route) allows(method string) bool {
	for list := rt.kind.allowed(); list != ""; {
		var m string
		m, list, _ = strings.Cut(list, ", ")
		if m == method {
			return true
		}
	}
	return false
}

// pathSegments splits an escaped URL path into its %-decoded segments, at
// most len(dst) of them. Runs of slashes count as one, so that leading,
// trailing and doubled slashes make no empty segments (docs/protocol.md §13:
// the web servers in front of the legacy servers merged them, and clients
// rely on it). n is the number of segments stored, more reports that the
// path has further ones, and bad is the index of the first stored segment
// with an invalid %-escape (n when there is none); segments from bad on
// are not decoded. A path that does not start with "/" has no segments.
func pathSegments(escaped string, dst []string) (n int, more bool, bad int) {
	if !strings.HasPrefix(escaped, "/") {
		return 0, false, 0
	}
	bad = -1
	for p := escaped; p != ""; {
		var seg string
		seg, p, _ = strings.Cut(p, "/")
		if seg == "" {
			continue
		}
		if n == len(dst) {
			more = true
			break
		}
		if bad < 0 && strings.IndexByte(seg, '%') >= 0 {
			if dec, err := url.PathUnescape(seg); err == nil {
				seg = dec
			} else {
				bad = n
			}
		}
		dst[n] = seg
		n++
	}
	if bad < 0 {
		bad = n
	}
	return n, more, bad
}

func isStorageVersion(s string) bool { return s == "1.1" || s == "1.0" || s == "1" }
func isUserAPIVersion(s string) bool { return s == "1.0" || s == "1" }

// parseRoute maps an escaped request path to its route; unknown paths and
// invalid usernames (which the Reference's URL patterns do not match) give
// routeUnknown.
func parseRoute(escapedPath string) route {
	rt, _, _ := parsePath(escapedPath)
	return rt
}

// parsePath reads an escaped path once for everything that needs it: the
// route the handler serves, and the user segment a router in front of the
// handler decides by. slot is true for every path shaped like a storage
// or User API path (/<1.0|1|1.1>/<user>[/…], /user/<1.0|1>/<user>[/…]),
// whether or not a route matches the rest; user is the normalized
// username of that segment, "" when it is not a valid username. Both
// readers see the same decoded segments, so "/%31.1/alice/…" is alice's
// here as it is when it is served.
func parsePath(escapedPath string) (rt route, user string, slot bool) {
	var seg [maxRouteSegments]string
	n, more, bad := pathSegments(escapedPath, seg[:])
	// A path reaches the user slot once a "/" follows the version: with
	// nothing after it the user segment is empty, hence invalid.
	slotAt := n
	if strings.HasSuffix(escapedPath, "/") && !more {
		slotAt = n + 1
	}
	var name string
	switch {
	case bad < min(n, 3):
		// The segments a user slot is made of must decode.
	case slotAt >= 2 && isStorageVersion(seg[0]):
		name, slot = seg[1], true
	case slotAt >= 3 && seg[0] == segmentUserAPI && isUserAPIVersion(seg[1]):
		name, slot = seg[2], true
	}
	valid := slot && syncstore.ValidUsername(name)
	if valid {
		user = syncstore.NormalizeUsername(name)
	}
	if n == 0 || more || bad < n {
		return route{}, user, slot
	}
	return matchRoute(seg[:n], user, valid), user, slot
}

// matchRoute maps decoded path segments to their route; user is the
// normalized user segment, valid whether it is a valid username.
func matchRoute(seg []string, user string, valid bool) route {
	n := len(seg)
	switch {
	case n == 1 && seg[0] == segmentHeartbeat:
		return route{kind: routeHeartbeat}
	case isStorageVersion(seg[0]):
		if n < 3 || !valid {
			return route{}
		}
		rt := route{user: user}
		switch {
		case seg[2] == segmentInfo && n == 4:
			switch seg[3] {
			case infoCollections, infoCounts, infoUsage, infoQuota:
				rt.kind, rt.info = routeInfo, seg[3]
			}
		case seg[2] == segmentStorage:
			switch n {
			case 3:
				rt.kind = routeStorage
			case 4:
				rt.kind, rt.collection = routeCollection, seg[3]
			case 5:
				rt.kind, rt.collection, rt.id = routeItem, seg[3], seg[4]
			}
		}
		if rt.kind == routeUnknown {
			return route{}
		}
		return rt
	case seg[0] == segmentUserAPI:
		if n < 3 || !isUserAPIVersion(seg[1]) || !valid {
			return route{}
		}
		rt := route{user: user}
		switch {
		case n == 3:
			rt.kind = routeUser
		case n == 5 && seg[3] == "node" && seg[4] == "weave":
			rt.kind = routeUserNode
		case n == 4 && seg[3] == "password":
			rt.kind = routeUserPassword
		case n == 4 && seg[3] == "password_reset":
			rt.kind = routeUserReset
		case n == 4 && seg[3] == "email":
			rt.kind = routeUserEmail
		default:
			return route{}
		}
		return rt
	case seg[0] == segmentMiscAPI:
		if n == 3 && isUserAPIVersion(seg[1]) && seg[2] == segmentCaptchaHTML {
			return route{kind: routeCaptcha}
		}
	}
	return route{}
}
