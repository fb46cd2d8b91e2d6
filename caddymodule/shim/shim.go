// Package shim is the migration shim of the firefox_sync handler: it
// sends each user's requests to the native store, to their legacy PHP
// node (through Caddy's reverse_proxy) or nowhere while they are being
// migrated, as the route table says. It also holds the route cache, the
// operator's route changes with their checks, and the admin API's logic
// over them; the Caddy glue (module registration, Caddyfile) stays in
// caddymodule, which this package must not import.
package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/httpapi"
)

// UserFinder finds native accounts (syncstore.Store's lookup).
type UserFinder interface {
	LookupUser(ctx context.Context, name string) (*syncstore.User, error)
}

// Accounts finds and removes native accounts (syncstore.Store's).
type Accounts interface {
	UserFinder
	DeleteUser(ctx context.Context, userID int64) error
}

// Shim sends each request to the backend the route table names for its
// user: the native protocol handler, a legacy node, or nobody while the
// user is being migrated. The answers it gives itself are the native
// handler's (httpapi), so that clients cannot tell who answered.
type Shim struct {
	native       *httpapi.Handler
	nodes        map[string]caddyhttp.MiddlewareHandler
	hostNode     string
	defaultState syncstore.RouteState
	home         string // node of new accounts; "" = native
	routes       *routeCache
	table        syncstore.RouteTable
	users        Accounts
	ttl          time.Duration
	// timeout is the legacy block's: how long a node may keep its
	// answer from coming, before its headers and between its reads.
	timeout time.Duration
	// retryAfter is the back-off of users whose node is unreachable;
	// migratingRetryAfter that of users being migrated, sized to the
	// seconds a migration keeps a user away.
	retryAfter          time.Duration
	migratingRetryAfter time.Duration
	logger              *zap.Logger
	metrics             *Metrics
	clock               func() time.Time
	stats               *routeStats // keeps the users-per-state gauge
	// releaseNodes forgets the nodes of this shim in the database's
	// set of configured nodes, releaseShards its shards.
	releaseNodes, releaseShards func()
	// backends serve native users by the shard their row names ("" =
	// the directory database, native).
	backends map[string]*backend
	// weights are the shards' shares of new users; nil without shards.
	weights []syncstore.ShardWeight
	// Route lookup counters, resolved once: label lookups would cost as
	// much as the decision itself.
	lookupHit, lookupMiss, lookupWrite, lookupError prometheus.Counter
}

// countLookups resolves the route lookup counters.
func (s *Shim) countLookups() {
	s.lookupHit = s.metrics.routeLookups.WithLabelValues("hit")
	s.lookupMiss = s.metrics.routeLookups.WithLabelValues("miss")
	s.lookupWrite = s.metrics.routeLookups.WithLabelValues("write")
	s.lookupError = s.metrics.routeLookups.WithLabelValues("error")
}

// target is where a request goes.
type target struct {
	user string // normalized; "" when the path names no user
	row  *syncstore.Route
	// cached: row came from the route cache, and may be up to
	// route_cache_ttl old.
	cached bool
	state  syncstore.RouteState
	node   string // legacy node, for state legacy
}

// decide routes a request by its method and parsed path. Paths that name
// no user go to the default backend; a user segment that is not a valid
// username goes to the native handler, which answers 404 (docs/protocol.md
// §2.2), so it is never forwarded.
//
// Reads (GET, HEAD) take the route from the cache. Every other method can
// write, so it reads the route table (one primary-key read) and refreshes
// the cache: a user set to migrating, or flipped, has its writes stopped
// or moved on every instance at once. Reads may follow the old route for
// up to route_cache_ttl, which is harmless: around a flip both backends
// hold the same data. A cached migrating row is not trusted either: the
// state lasts about a second and ends with a flip, and a client told to
// come back in migrating_retry_after must not be refused again by a
// stale entry. Nor is a cached absence: the row may have been written
// since by a registration on another instance.
func (s *Shim) decide(ctx context.Context, method string, req *httpapi.Request) (target, error) {
	if !req.HasUserSegment() {
		return target{state: s.defaultState, node: s.hostNode}, nil
	}
	user := req.User()
	if user == "" {
		return target{state: syncstore.RouteNative}, nil
	}
	now := s.clock()
	var (
		row *syncstore.Route
		err error
		hit bool
	)
	counter := s.lookupWrite
	if method == http.MethodGet || method == http.MethodHead {
		row, hit, err = s.routes.lookup(ctx, user, s.ttl, now)
		// A cached absence is not trusted either: a user registered on
		// another instance gets their row there, and this instance would
		// otherwise look for them where rowless users live (a 404 from
		// node/weave, a 401 from storage) for up to route_cache_ttl,
		// right after a registration, when a client asks next.
		if hit && (row == nil || row.State == syncstore.RouteMigrating) {
			row, err = s.routes.refresh(ctx, user, s.ttl, now)
			hit = false
		}
		counter = s.lookupMiss
		if hit {
			counter = s.lookupHit
		}
	} else {
		row, err = s.routes.refresh(ctx, user, s.ttl, now)
	}
	if err != nil {
		s.lookupError.Inc()
		return target{user: user}, err
	}
	counter.Inc()
	t := s.targetOf(user, row, now)
	t.cached = hit
	return t, nil
}

func (s *Shim) targetOf(user string, row *syncstore.Route, now time.Time) target {
	t := target{user: user, row: row, state: s.defaultState, node: s.hostNode}
	if row != nil {
		t.state = row.Effective(now)
		if row.Node != "" {
			t.node = row.Node
		}
	}
	return t
}

// Serve answers one request; req is httpapi.ParseRequest(r). Repeated
// slashes in the path are merged first, so that a legacy node is sent
// the path the native handler would serve.
func (s *Shim) Serve(w *StatusWriter, r *http.Request, req *httpapi.Request, next caddyhttp.Handler) {
	start := time.Now()
	if req.Endpoint() == httpapi.EndpointHeartbeat {
		// This server's health, not a legacy node's.
		s.serveNative(w, r, req, target{}, start)
		return
	}
	r = httpapi.MergeSlashes(r)
	t, err := s.decide(r.Context(), r.Method, req)
	if err != nil {
		s.logger.Error("reading the route table failed", syncstore.UserField(s.logger, t.user), zap.Error(err))
		s.native.Unavailable(w, s.retryAfter, "route table unavailable")
		s.metrics.observeBackend(backendUnrouted, "", w.StatusCode(), time.Since(start))
		return
	}
	switch {
	case req.Endpoint() == httpapi.EndpointUserNode && t.state != syncstore.RouteNative:
		// Clients must keep talking to this server, not to the node
		// (docs/legacy.md §1.4); the native handler answers native users.
		s.native.ServeNodeURL(w, r)
		s.metrics.observeBackend(string(t.state), t.nodeLabel(), w.StatusCode(), time.Since(start))
	case req.Endpoint() == httpapi.EndpointUserCreate && t.row == nil:
		s.register(w, r, req, t, next, start)
	default:
		s.serveTarget(w, r, req, t, next, start)
	}
}

// nodeLabel is the node metrics label: only legacy requests have one.
func (t *target) nodeLabel() string {
	if t.state == syncstore.RouteLegacy {
		return t.node
	}
	return ""
}

func (s *Shim) serveTarget(w *StatusWriter, r *http.Request, req *httpapi.Request, t target, next caddyhttp.Handler, start time.Time) {
	switch t.state {
	case syncstore.RouteNative:
		s.serveNative(w, r, req, t, start)
	case syncstore.RouteMigrating:
		s.serveMigrating(w)
		s.metrics.observeBackend(backendMigrating, "", w.StatusCode(), time.Since(start))
	default:
		s.proxy(w, r, t, next, start)
	}
}

// serveNative hands the request to the protocol handler of the shard the
// user's row names. A shard this server does not know (a config that
// lags behind the route table, a typo in a forced route change) gets 503
// with Retry-After, as an unknown legacy node does, never the directory
// database's answer: the user's data is not there.
func (s *Shim) serveNative(w *StatusWriter, r *http.Request, req *httpapi.Request, t target, start time.Time) {
	shard := ""
	if t.row != nil {
		shard = t.row.Shard
	}
	b, ok := s.backends[shard]
	if !ok {
		s.logger.Error("route names a native shard this server does not know",
			syncstore.UserField(s.logger, t.user), zap.String("shard", shard))
		s.native.Unavailable(w, s.retryAfter, "native shard not configured")
		s.metrics.observeBackend(backendUnrouted, "", w.StatusCode(), time.Since(start))
		return
	}
	ob := b.open.Load()
	if ob == nil {
		// Configured, but its database has not opened since the config
		// loaded; a retry is under way (see caddymodule's pending shards).
		s.logger.Warn("native shard not open yet", syncstore.UserField(s.logger, t.user), zap.String("shard", shard))
		s.native.Unavailable(w, s.retryAfter, "native shard unavailable")
		s.metrics.observeBackend(backendNative, b.label, w.StatusCode(), time.Since(start))
		return
	}
	if t.cached && len(s.weights) > 0 {
		if moved := s.serveCachedRead(w, r, req, t, ob); moved != nil {
			s.serveNative(w, r, req, *moved, start)
			return
		}
	} else {
		ob.api.ServeRequest(w, r, req)
	}
	s.metrics.observeBackend(backendNative, b.label, w.StatusCode(), time.Since(start))
}

// proxy hands the request to the user's legacy node. The node's
// reverse_proxy streams both bodies, strips hop-by-hop headers and passes
// everything else, so the legacy answer arrives as it was sent. When the
// node cannot be reached in time the proxy returns an error without
// answering; the user then gets 503 with Retry-After (docs/protocol.md
// §7.3). An answer that stops coming for the legacy timeout once its
// headers arrived is given up like one whose headers never came, and an
// answer that broke off (a reset, a body shorter than announced) reaches
// the client as a broken transfer (reverse_proxy aborts the connection);
// both are counted as errors of the node.
func (s *Shim) proxy(w *StatusWriter, r *http.Request, t target, next caddyhttp.Handler, start time.Time) {
	node, ok := s.nodes[t.node]
	if !ok {
		s.logger.Error("route names a legacy node this server does not know",
			syncstore.UserField(s.logger, t.user), zap.String("node", t.node))
		s.native.Unavailable(w, s.retryAfter, "legacy node not configured")
		s.metrics.observeBackend(backendLegacy, t.node, w.StatusCode(), time.Since(start))
		return
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	sw := newStallWriter(w, s.timeout, func() { cancel(errLegacyStalled) })
	defer sw.stop()
	defer func() {
		if v := recover(); v != nil {
			// reverse_proxy panics with http.ErrAbortHandler when the
			// answer broke off after its headers were sent: the client's
			// connection is cut, so that it cannot take the part for the
			// whole answer. The operator must still see the node's
			// failure.
			s.logger.Warn("legacy answer cut short", zap.String("node", t.node), syncstore.UserField(s.logger, t.user),
				zap.String("method", r.Method), zap.Int("status", w.StatusCode()), zap.Bool("stalled", sw.stalled()),
				zap.Any("error", v))
			s.metrics.observeBackend(backendLegacy, t.node, http.StatusBadGateway, time.Since(start))
			panic(v)
		}
	}()
	pr := r.WithContext(ctx)
	var body *clientBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &clientBody{ReadCloser: r.Body}
		pr.Body = body
	}
	err := node.ServeHTTP(sw, pr, next)
	switch {
	case err == nil:
	case w.status == 0 && body.err() != nil:
		// The client's upload broke off (it went away, or sent a
		// malformed body): the node is not to blame, and the client
		// gets what the native handler answers a broken upload
		// (docs/protocol.md §7.1 code 1).
		s.logger.Info("client upload broke off", zap.String("node", t.node), syncstore.UserField(s.logger, t.user),
			zap.String("method", r.Method), zap.NamedError("client_error", body.err()), zap.Error(err))
		s.native.BrokenUpload(w)
	case w.status != 0:
		// Part of the answer is on its way; nothing better can be sent.
		s.logger.Warn("legacy answer cut short", zap.String("node", t.node), syncstore.UserField(s.logger, t.user), zap.Error(err))
	default:
		s.logger.Warn("legacy node unavailable", zap.String("node", t.node), syncstore.UserField(s.logger, t.user),
			zap.String("method", r.Method), zap.Error(err))
		s.native.Unavailable(w, s.retryAfter, "legacy server unavailable")
	}
	s.metrics.observeBackend(backendLegacy, t.node, w.StatusCode(), time.Since(start))
}

// serveMigrating answers a user whose data is being moved: 503 with
// Retry-After and X-Weave-Backoff (docs/protocol.md §7.3) of
// migrating_retry_after, so the client backs off for about as long as a
// migration takes and finds the user on the new backend when it retries.
func (s *Shim) serveMigrating(w http.ResponseWriter) {
	s.native.Unavailable(w, s.migratingRetryAfter, "account migration in progress")
}

// register handles PUT /user/1.0/<u> for a user without a route row: the
// account is created at home (new_users) unless the name is taken where
// it could already live, in which case the backend of rowless users
// answers as it would without the shim. The route row is written when
// home accepts the account, before its answer leaves: if the row cannot
// be written the client gets 503 instead (and a native account is
// removed again), so no account exists without the row leading to it and
// failed registrations leave no rows behind.
func (s *Shim) register(w *StatusWriter, r *http.Request, req *httpapi.Request, t target, next caddyhttp.Handler, start time.Time) {
	free, failed, err := s.freeForHome(r, t)
	if err != nil {
		s.logger.Warn("checking whether a new username is taken failed", syncstore.UserField(s.logger, t.user),
			zap.String("node", failed), zap.Error(err))
		s.native.Unavailable(w, s.retryAfter, "legacy server unavailable")
		// The failure is the node's that did not answer, not the one
		// the user would be served by.
		backend, node := string(t.state), t.nodeLabel()
		if failed != "" {
			backend, node = backendLegacy, failed
		}
		s.metrics.observeBackend(backend, node, w.StatusCode(), time.Since(start))
		return
	}
	if !free {
		s.serveTarget(w, r, req, t, next, start)
		return
	}
	row := syncstore.Route{Username: t.user, State: syncstore.RouteNative, Shard: s.pickShard(t.user)}
	if s.home != "" {
		row = syncstore.Route{Username: t.user, State: syncstore.RouteLegacy, Node: s.home}
	}
	cw := &commitWriter{ResponseWriter: w, commit: func() error { return s.recordNewUser(r.Context(), row) }}
	cw.fail = func(err error) {
		s.logger.Error("writing the route of a new user failed", syncstore.UserField(s.logger, t.user),
			zap.String("shard", syncstore.ShardLabel(row.Shard)), zap.Error(err))
		if ob := s.backends[row.Shard].open.Load(); row.State == syncstore.RouteNative && ob != nil {
			s.dropAccount(r.Context(), ob.users, t.user)
		}
		clear(w.Header())
		s.native.Unavailable(w, s.retryAfter, "route table unavailable")
	}
	s.serveTarget(&StatusWriter{ResponseWriter: cw}, r, req, s.targetOf(t.user, &row, s.clock()), next, start)
}

// recordNewUser writes the route row of an account its home just
// created. A row that appeared meanwhile must say the same.
func (s *Shim) recordNewUser(ctx context.Context, row syncstore.Route) error {
	wrote, err := s.table.CompareAndSwapRoute(ctx, nil, row)
	s.routes.invalidate(row.Username)
	if err != nil {
		return err
	}
	if !wrote {
		cur, err := s.table.GetRoute(ctx, row.Username)
		if err != nil {
			return err
		}
		if cur.State != row.State || cur.Node != row.Node || cur.Shard != row.Shard {
			return fmt.Errorf("the route became %s on node %q, shard %s meanwhile", cur.State, cur.Node, syncstore.ShardLabel(cur.Shard))
		}
	}
	s.logger.Info("new user homed", syncstore.UserField(s.logger, row.Username), zap.String("state", string(row.State)),
		zap.String("node", row.Node), zap.String("shard", syncstore.ShardLabel(row.Shard)))
	return nil
}

// dropAccount removes a native account whose route row could not be
// written; a client retrying the registration starts afresh.
func (s *Shim) dropAccount(ctx context.Context, users Accounts, user string) {
	ctx = context.WithoutCancel(ctx)
	u, err := users.LookupUser(ctx, user)
	if err == nil {
		err = users.DeleteUser(ctx, u.ID)
	}
	if err != nil {
		s.logger.Error("removing a native account without a route failed", syncstore.UserField(s.logger, user), zap.Error(err))
	}
}

// freeForHome reports whether a new account for t.user may be created at
// home: at once when home is where rowless users live (it answers
// "exists" itself) and no shards are configured; with shards only if the
// directory database does not hold the name (then it answers "exists");
// otherwise only if the name is free natively (default
// native) or on every legacy node (default legacy, so that no legacy
// account, whichever site its clients use, is shadowed). Anything but a
// clear "free" from a node (another answer, a node without the User API)
// counts as taken. failed names the node that could not be asked.
func (s *Shim) freeForHome(r *http.Request, t target) (free bool, failed string, err error) {
	switch {
	case t.state == syncstore.RouteNative && s.home == "" && len(s.weights) == 0:
		return true, "", nil
	case t.state == syncstore.RouteLegacy && s.home == t.node:
		return true, "", nil
	case t.state == syncstore.RouteNative:
		_, err := s.users.LookupUser(r.Context(), t.user)
		if errors.Is(err, syncstore.ErrNotFound) {
			return true, "", nil
		}
		return false, "", err
	}
	names := make([]string, 0, len(s.nodes))
	for name := range s.nodes {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		free, err := legacyUserFree(r, s.nodes[name], s.timeout)
		if err != nil {
			return false, name, fmt.Errorf("asking node %q: %w", name, err)
		}
		if !free {
			return false, "", nil
		}
	}
	return true, "", nil
}

// legacyUserFree asks a legacy node GET /user/1.0/<u> (the path of r, a
// PUT to the same URL), which answers 0 for a free name. The question is
// bounded like a proxied request: an answer that stalls for timeout after
// its headers, or breaks off, is an error (the client then gets 503), not
// a hang or a cut connection.
func legacyUserFree(r *http.Request, node caddyhttp.MiddlewareHandler, timeout time.Duration) (free bool, err error) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	req := r.Clone(ctx)
	req.Method = http.MethodGet
	req.Body, req.GetBody, req.ContentLength, req.TransferEncoding = http.NoBody, nil, 0, nil
	for _, h := range []string{"Content-Length", "Content-Type", "Transfer-Encoding", "Expect"} {
		req.Header.Del(h)
	}
	var rec captureWriter
	sw := newStallWriter(&rec, timeout, func() { cancel(errLegacyStalled) })
	defer sw.stop()
	defer func() {
		// reverse_proxy aborts an answer that broke off after its
		// headers with this panic; nothing reached the client yet.
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler { //nolint:errorlint // net/http compares it the same way
				panic(v)
			}
			free, err = false, errLegacyCutShort
			if sw.stalled() {
				err = errLegacyStalled
			}
		}
	}()
	if err := node.ServeHTTP(sw, req, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
		return false, err
	}
	body := strings.TrimSpace(string(rec.body))
	return rec.statusCode() == http.StatusOK && (body == "0" || body == `"0"`), nil
}

// clientBody remembers why reading the client's request body failed.
// The transport reads it on a goroutine of its own.
type clientBody struct {
	io.ReadCloser
	failed atomic.Pointer[error]
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF { //nolint:errorlint // io.Reader returns io.EOF itself
		b.failed.Store(&err)
	}
	return n, err
}

// err is the error reading the body ended with, nil if none.
func (b *clientBody) err() error {
	if b == nil {
		return nil
	}
	if p := b.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// errLegacyCutShort is the error of a legacy answer that broke off.
var errLegacyCutShort = errors.New("the legacy answer broke off")

// commitWriter runs commit when the backend is about to send a 200,
// before anything reaches the client; if commit fails, fail answers
// instead and the backend's answer is dropped.
type commitWriter struct {
	http.ResponseWriter
	commit  func() error
	fail    func(error)
	decided bool
	failed  bool
}

func (c *commitWriter) WriteHeader(code int) {
	if !c.decided && code >= http.StatusOK {
		c.decided = true
		if code == http.StatusOK {
			if err := c.commit(); err != nil {
				c.failed = true
				c.fail(err)
				return
			}
		}
	}
	if !c.failed {
		c.ResponseWriter.WriteHeader(code)
	}
}

func (c *commitWriter) Write(b []byte) (int, error) {
	if !c.decided {
		c.WriteHeader(http.StatusOK)
	}
	if c.failed {
		return len(b), nil
	}
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (c *commitWriter) Unwrap() http.ResponseWriter {
	return c.ResponseWriter
}

// captureWriter keeps the status and the start of a small answer.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (c *captureWriter) Header() http.Header {
	if c.header == nil {
		c.header = http.Header{}
	}
	return c.header
}

func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 && code >= http.StatusOK {
		c.status = code
	}
}

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	const keep = 64
	if n := keep - len(c.body); n > 0 {
		c.body = append(c.body, b[:min(n, len(b))]...)
	}
	return len(b), nil
}

func (c *captureWriter) statusCode() int {
	if c.status == 0 {
		return http.StatusOK
	}
	return c.status
}
