package httpapi

import (
	"net/http"
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
// syntactically valid; the collection name and the id are not checked yet,
// because a bad one is answered with a Weave error after authentication
// rather than with 404.
type route struct {
	kind       routeKind
	user       string // as in the URL; compare via syncstore.NormalizeUsername
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

// pathSegments splits an escaped URL path into at most len(dst) decoded
// segments after stripping one trailing "/". It returns 0 for paths with
// more segments, empty segments or bad %-escapes, none of which any route
// matches.
func pathSegments(escaped string, dst []string) int {
	if !strings.HasPrefix(escaped, "/") {
		return 0
	}
	p := escaped[1:]
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		return 0
	}
	n := 0
	for {
		seg, rest, more := strings.Cut(p, "/")
		if seg == "" || n == len(dst) {
			return 0
		}
		if strings.IndexByte(seg, '%') >= 0 {
			dec, err := url.PathUnescape(seg)
			if err != nil {
				return 0
			}
			seg = dec
		}
		dst[n] = seg
		n++
		if !more {
			return n
		}
		p = rest
	}
}

func isStorageVersion(s string) bool { return s == "1.1" || s == "1.0" || s == "1" }
func isUserAPIVersion(s string) bool { return s == "1.0" || s == "1" }

// parseRoute maps an escaped request path to its route; unknown paths and
// invalid usernames (which the Reference's URL patterns do not match) give
// routeUnknown.
func parseRoute(escapedPath string) route {
	var seg [maxRouteSegments]string
	n := pathSegments(escapedPath, seg[:])
	switch {
	case n == 0:
		return route{}
	case n == 1 && seg[0] == segmentHeartbeat:
		return route{kind: routeHeartbeat}
	case isStorageVersion(seg[0]):
		if n < 3 || !syncstore.ValidUsername(seg[1]) {
			return route{}
		}
		rt := route{user: seg[1]}
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
		if n < 3 || !isUserAPIVersion(seg[1]) || !syncstore.ValidUsername(seg[2]) {
			return route{}
		}
		rt := route{user: seg[2]}
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

// Endpoint labels a request with the protocol operation it asks for, for
// metrics: a small fixed set of values such as "storage.collection.get",
// "storage.info.collections" or "user.create". Unknown paths and methods a
// path does not serve give "unknown".
func Endpoint(r *http.Request) string {
	rt := parseRoute(r.URL.EscapedPath())
	if !rt.allows(r.Method) {
		return "unknown"
	}
	return endpointLabel(&rt, r.Method)
}

// endpointLabel names an allowed (route, method) pair.
func endpointLabel(rt *route, method string) string {
	switch rt.kind {
	case routeHeartbeat:
		return "heartbeat"
	case routeInfo:
		switch rt.info {
		case infoCollections:
			return "storage.info.collections"
		case infoCounts:
			return "storage.info.collection_counts"
		case infoUsage:
			return "storage.info.collection_usage"
		default:
			return "storage.info.quota"
		}
	case routeStorage:
		if method == http.MethodDelete {
			return "storage.all.delete"
		}
		return "storage.all.put"
	case routeCollection:
		switch method {
		case http.MethodGet:
			return "storage.collection.get"
		case http.MethodDelete:
			return "storage.collection.delete"
		default: // POST and PUT are the same batch upload
			return "storage.collection.post"
		}
	case routeItem:
		switch method {
		case http.MethodGet:
			return "storage.item.get"
		case http.MethodDelete:
			return "storage.item.delete"
		default:
			return "storage.item.put"
		}
	case routeUser:
		switch method {
		case http.MethodGet:
			return "user.exists"
		case http.MethodPut:
			return "user.create"
		default:
			return "user.delete"
		}
	case routeUserNode:
		return "user.node"
	case routeUserPassword:
		return "user.password"
	case routeUserReset:
		if method == http.MethodDelete {
			return "user.password_reset.delete"
		}
		return "user.password_reset"
	case routeUserEmail:
		return "user.email"
	case routeCaptcha:
		return "misc.captcha"
	}
	return "unknown"
}

// PathUser returns the account a request path belongs to: the <user> of
// /<1.0|1|1.1>/<user>/… or /user/<1.0|1>/<user>[/…], lower-cased as
// accounts are stored (syncstore.NormalizeUsername). path may be escaped
// or not. ok is false for other paths and for invalid usernames.
func PathUser(path string) (user string, ok bool) {
	user, _ = PathUserSegment(path)
	return user, user != ""
}

// PathUserSegment is PathUser for a router that must also know whether
// the path has a user segment at all: slot is true for every path shaped
// like a storage or User API path, and user is "" when its user segment is
// not a valid username (such a request must be refused, never forwarded).
// The segments are %-decoded exactly as the handler decodes them, so
// "/%31.1/alice/…" belongs to alice here as it does when it is served.
func PathUserSegment(path string) (user string, slot bool) {
	var seg [3]string
	p := strings.TrimPrefix(path, "/")
	n := 0
	for n < len(seg) {
		s, rest, more := strings.Cut(p, "/")
		if strings.IndexByte(s, '%') >= 0 {
			dec, err := url.PathUnescape(s)
			if err != nil {
				return "", false
			}
			s = dec
		}
		seg[n] = s
		n++
		if !more {
			break
		}
		p = rest
	}
	var name string
	switch {
	case n >= 2 && isStorageVersion(seg[0]):
		name = seg[1]
	case n >= 3 && seg[0] == segmentUserAPI && isUserAPIVersion(seg[1]):
		name = seg[2]
	default:
		return "", false
	}
	if !syncstore.ValidUsername(name) {
		return "", true
	}
	return syncstore.NormalizeUsername(name), true
}
