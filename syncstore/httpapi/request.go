package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// Request is what the protocol reads from a request's method and path,
// parsed once and shared by everything that handles the request: the
// Handler (ServeRequest), a router in front of it, metrics and logs. The
// zero value is a request for an unknown path.
type Request struct {
	rt       route
	endpoint Endpoint
	user     string
	slot     bool
}

// ParseRequest parses r's method and escaped path.
func ParseRequest(r *http.Request) Request {
	return Parse(r.Method, r.URL.EscapedPath())
}

// Parse parses a method and an escaped request path. Runs of slashes in
// the path count as one.
func Parse(method, escapedPath string) Request {
	rt, user, slot := parsePath(escapedPath)
	q := Request{rt: rt, user: user, slot: slot}
	if rt.allows(method) {
		q.endpoint = endpointOf(&rt, method)
	}
	return q
}

// Endpoint is the protocol operation asked for; EndpointUnknown for paths
// no route matches and for methods the path does not serve.
func (q *Request) Endpoint() Endpoint { return q.endpoint }

// User is the account the path belongs to: the <user> of
// /<1.0|1|1.1>/<user>/… or /user/<1.0|1>/<user>[/…], normalized as
// accounts are stored (syncstore.NormalizeUsername). It is "" for other
// paths and for user segments that are not valid usernames.
func (q *Request) User() string { return q.user }

// HasUserSegment reports whether the path is shaped like a storage or
// User API path, whatever follows the user segment. A router must send
// such a request by User's route, or, when User is "" (not a valid
// username), to the Handler, which answers 404: never elsewhere.
func (q *Request) HasUserSegment() bool { return q.slot }

// Collection is the %-decoded collection name of a collection or item
// request, not validated yet; "" otherwise.
func (q *Request) Collection() string { return q.rt.collection }

// ID is the %-decoded record id of an item request, not validated yet;
// "" otherwise.
func (q *Request) ID() string { return q.rt.id }

// MergeSlashes returns r with each run of slashes in its path replaced by
// one, as the web servers in front of the legacy servers passed such
// paths on; r itself when its path has none. A router forwarding
// requests to a legacy server sends the merged path, which is the one the
// Handler serves.
func MergeSlashes(r *http.Request) *http.Request {
	escaped := r.URL.EscapedPath()
	if !strings.Contains(escaped, "//") {
		return r
	}
	var b strings.Builder
	b.Grow(len(escaped))
	for i := 0; i < len(escaped); i++ {
		if escaped[i] == '/' && i > 0 && escaped[i-1] == '/' {
			continue
		}
		b.WriteByte(escaped[i])
	}
	merged := b.String()
	path, err := url.PathUnescape(merged)
	if err != nil {
		// Such a path matches no route; it is answered or forwarded as
		// it came.
		return r
	}
	u := *r.URL
	u.Path, u.RawPath = path, merged
	r2 := r.WithContext(r.Context())
	r2.URL = &u
	if r.RequestURI != "" {
		r2.RequestURI = u.RequestURI()
	}
	return r2
}
