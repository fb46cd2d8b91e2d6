package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// AdminPath is where the admin API serves the route table.
const AdminPath = "/firefox-sync/routes/"

// Database is an open database as the admin API uses it.
type Database struct {
	// Routes is the database's routing state; a change invalidates
	// its cache.
	Routes *Routes
	// Users finds native accounts, for the refusal of unknown users
	// and of native routes without an account.
	Users UserFinder
}

// shardUsers finds accounts on the database's shards: its own store for
// "", the shards of the shims loaded on it for the others.
func (d Database) shardUsers() ShardUsers {
	return d.Routes.shards.users(d.Users)
}

// Admin serves the migration route table on Caddy's admin endpoint
// (never on a site), so that operators and scripts can flip users without
// a shell on the database:
//
//	GET /firefox-sync/routes/?after=<user>&limit=<n>   rows in name order
//	GET /firefox-sync/routes/<user>                    one row (404: none)
//	PUT /firefox-sync/routes/<user>                    {"state": "native", "node": "", "shard": "s1", "force": false}
//
// A change made here takes effect at once on this instance (its route
// cache is invalidated) and within route_cache_ttl on the others. With
// several databases open, ?database=<label> picks one.
type Admin struct {
	// Database finds the open database that ?database= names ("" when
	// the request names none); its error, a caddy.APIError, is the
	// answer.
	Database func(label string) (Database, error)
	// Logger records every route change made here.
	Logger *zap.Logger
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// Serve answers one admin request.
func (a *Admin) Serve(w http.ResponseWriter, r *http.Request) error {
	db, err := a.Database(r.URL.Query().Get("database"))
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(r.URL.Path, AdminPath)
	if name == "" {
		if r.Method != http.MethodGet {
			return apiError(http.StatusMethodNotAllowed, errors.New("method not allowed: list routes with GET"))
		}
		return a.list(w, r, db)
	}
	acct, err := syncstore.ParseAccount(name)
	if err != nil {
		return apiError(http.StatusBadRequest, err)
	}
	user := acct.Name
	switch r.Method {
	case http.MethodGet:
		row, err := db.Routes.table.GetRoute(r.Context(), user)
		if errors.Is(err, syncstore.ErrNoRoute) {
			return apiError(http.StatusNotFound, fmt.Errorf("%s has no route row and follows default_state", user))
		}
		if err != nil {
			return apiError(http.StatusServiceUnavailable, err)
		}
		return writeJSON(w, routeView(row, time.Now()))
	case http.MethodPut:
		return a.put(w, r, db, acct)
	}
	return apiError(http.StatusMethodNotAllowed, errors.New("method not allowed: use GET or PUT"))
}

func (a *Admin) list(w http.ResponseWriter, r *http.Request, db Database) error {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return apiError(http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to 1000", s))
		}
		limit = n
	}
	rows, err := db.Routes.table.ListRoutes(r.Context(), q.Get("after"), limit)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err)
	}
	now := time.Now()
	out := make([]RouteJSON, 0, len(rows))
	for i := range rows {
		out = append(out, routeView(&rows[i], now))
	}
	return writeJSON(w, out)
}

// RouteUpdate is the body of a PUT.
type RouteUpdate struct {
	State string `json:"state"`
	Node  string `json:"node,omitempty"`
	// Shard, when given, is the native shard the row is to name
	// ("default" for the directory database); it moves no data, so it
	// needs Force.
	Shard *string `json:"shard,omitempty"`
	Force bool    `json:"force,omitempty"`
}

// put applies a route change. Unless forced it refuses, as `syncserver
// routes set` does, a user with neither a native account nor a route row
// and a node that no route row names and no legacy block loaded on this
// database configures: both are most likely typos.
func (a *Admin) put(w http.ResponseWriter, r *http.Request, db Database, acct syncstore.Account) error {
	user := acct.Name
	var u RouteUpdate
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return apiError(http.StatusBadRequest, fmt.Errorf("decoding the body, want {\"state\": \"legacy|migrating|native\", \"node\": \"\", \"force\": false}: %w", err))
	}
	change := RouteChange{User: user, State: syncstore.RouteState(u.State), Node: u.Node, Force: u.Force}
	var err error
	if u.Shard != nil {
		var shard string
		if shard, err = syncstore.ParseShardName(*u.Shard); err != nil {
			err = fmt.Errorf("%w: %v", errBadRoute, err)
		}
		change.Shard = &shard
	}
	if err == nil {
		err = change.validate()
	}
	if err == nil && !u.Force {
		err = CheckRouteTarget(r.Context(), db.shardUsers(), db.Routes.table, acct, u.Node, db.Routes.nodes.list(),
			"no legacy block loaded on this database configures it", `"force": true`)
	}
	now := time.Now()
	var old *syncstore.Route
	var next syncstore.Route
	if err == nil {
		old, next, err = ChangeRoute(r.Context(), db.Routes.table, db.shardUsers(), change, now)
	}
	var unknown *unknownTargetError
	switch {
	case errors.Is(err, errBadRoute):
		return apiError(http.StatusBadRequest, err)
	case errors.Is(err, errRouteConflict), errors.Is(err, errNoAccount), errors.Is(err, errShardMove), errors.As(err, &unknown):
		return apiError(http.StatusConflict, err)
	case err != nil:
		return apiError(http.StatusServiceUnavailable, err)
	}
	db.Routes.cache.invalidate(user)
	from := "none"
	if old != nil {
		from = string(old.State)
	}
	a.Logger.Info("route changed through the admin API", syncstore.UserField(a.Logger, user),
		zap.String("from", from), zap.String("to", string(next.State)), zap.String("node", next.Node),
		zap.String("shard", syncstore.ShardLabel(next.Shard)), zap.Bool("force", u.Force))
	row, err := db.Routes.table.GetRoute(r.Context(), user)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err)
	}
	return writeJSON(w, routeView(row, now))
}

// RouteJSON is a route row as the admin API shows it.
type RouteJSON struct {
	Username     string     `json:"username"`
	State        string     `json:"state"`
	Effective    string     `json:"effective_state"`
	Node         string     `json:"node"`
	Shard        string     `json:"shard"` // "default": the directory database
	Bucket       int        `json:"bucket"`
	Owner        string     `json:"owner,omitempty"`
	Origin       string     `json:"origin,omitempty"`
	LeaseExpires *time.Time `json:"lease_expires,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Updated      time.Time  `json:"updated"`
}

func routeView(r *syncstore.Route, now time.Time) RouteJSON {
	v := RouteJSON{
		Username:  r.Username,
		State:     string(r.State),
		Effective: string(r.Effective(now)),
		Node:      r.Node,
		Shard:     syncstore.ShardLabel(r.Shard),
		Bucket:    syncstore.Bucket(r.Username),
		Owner:     r.Owner,
		Origin:    string(r.Origin),
		LastError: r.LastError,
		Updated:   r.Updated.UTC(),
	}
	if !r.LeaseExpires.IsZero() {
		t := r.LeaseExpires.UTC()
		v.LeaseExpires = &t
	}
	return v
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}
