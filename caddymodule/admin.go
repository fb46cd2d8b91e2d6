package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

func init() {
	caddy.RegisterModule(adminRoutes{})
}

// adminRoutesPath is where the admin API serves the route table.
const adminRoutesPath = "/firefox-sync/routes/"

// adminRoutes is the admin.api.firefox_sync module: the migration route
// table on Caddy's admin endpoint (never on a site), so that operators and
// scripts can flip users without a shell on the database:
//
//	GET /firefox-sync/routes/?after=<user>&limit=<n>   rows in name order
//	GET /firefox-sync/routes/<user>                    one row (404: none)
//	PUT /firefox-sync/routes/<user>                    {"state": "native", "node": "", "force": false}
//
// A change made here takes effect at once on this instance (its route
// cache is invalidated) and within route_cache_ttl on the others. With
// several databases open, ?database=<label> picks one (labels are listed
// in the error when it is missing).
type adminRoutes struct {
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (adminRoutes) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.firefox_sync",
		New: func() caddy.Module { return new(adminRoutes) },
	}
}

// Provision keeps the admin logger.
func (a *adminRoutes) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	return nil
}

// Routes returns the admin route.
func (a *adminRoutes) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: adminRoutesPath, Handler: caddy.AdminHandlerFunc(a.serve)}}
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

func (a *adminRoutes) serve(w http.ResponseWriter, r *http.Request) error {
	db, err := adminDatabase(r.URL.Query().Get("database"))
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(r.URL.Path, adminRoutesPath)
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
		row, err := db.routes.table.GetRoute(r.Context(), user)
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

func (a *adminRoutes) list(w http.ResponseWriter, r *http.Request, db *pooledStore) error {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return apiError(http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to 1000", s))
		}
		limit = n
	}
	rows, err := db.routes.table.ListRoutes(r.Context(), q.Get("after"), limit)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err)
	}
	now := time.Now()
	out := make([]routeJSON, 0, len(rows))
	for i := range rows {
		out = append(out, routeView(&rows[i], now))
	}
	return writeJSON(w, out)
}

// routeUpdate is the body of a PUT.
type routeUpdate struct {
	State string `json:"state"`
	Node  string `json:"node,omitempty"`
	Force bool   `json:"force,omitempty"`
}

// put applies a route change. Unless forced it refuses, as `syncserver
// routes set` does, a user with neither a native account nor a route row
// and a node that no route row names and no legacy block loaded on this
// database configures: both are most likely typos.
func (a *adminRoutes) put(w http.ResponseWriter, r *http.Request, db *pooledStore, acct syncstore.Account) error {
	user := acct.Name
	var u routeUpdate
	dec := json.NewDecoder(io.LimitReader(r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return apiError(http.StatusBadRequest, fmt.Errorf("decoding the body, want {\"state\": \"legacy|migrating|native\", \"node\": \"\", \"force\": false}: %w", err))
	}
	change := routeChange{User: user, State: syncstore.RouteState(u.State), Node: u.Node, Force: u.Force}
	err := change.validate()
	if err == nil && !u.Force {
		err = checkRouteTarget(r.Context(), db.Store, db.routes.table, acct, u.Node, db.nodes.list(),
			"no legacy block loaded on this database configures it", `"force": true`)
	}
	now := time.Now()
	var old *syncstore.Route
	var next syncstore.Route
	if err == nil {
		old, next, err = changeRoute(r.Context(), db.routes.table, db.Store, change, now)
	}
	var unknown *unknownTargetError
	switch {
	case errors.Is(err, errBadRoute):
		return apiError(http.StatusBadRequest, err)
	case errors.Is(err, errRouteConflict), errors.Is(err, errNoAccount), errors.As(err, &unknown):
		return apiError(http.StatusConflict, err)
	case err != nil:
		return apiError(http.StatusServiceUnavailable, err)
	}
	db.routes.invalidate(user)
	from := "none"
	if old != nil {
		from = string(old.State)
	}
	a.logger.Info("route changed through the admin API", syncstore.UserField(a.logger, user),
		zap.String("from", from), zap.String("to", string(next.State)), zap.String("node", next.Node), zap.Bool("force", u.Force))
	row, err := db.routes.table.GetRoute(r.Context(), user)
	if err != nil {
		return apiError(http.StatusServiceUnavailable, err)
	}
	return writeJSON(w, routeView(row, now))
}

// adminDatabase finds the open database the request is about.
func adminDatabase(label string) (*pooledStore, error) {
	var all []*pooledStore
	databases.Range(func(_, v any) bool {
		if p, ok := v.(*pooledStore); ok && p.routes != nil {
			all = append(all, p)
		}
		return true
	})
	sort.Slice(all, func(i, j int) bool { return all[i].label < all[j].label })
	labels := make([]string, len(all))
	for i, p := range all {
		if p.label == label {
			return p, nil
		}
		labels[i] = p.label
	}
	switch {
	case len(all) == 0:
		return nil, apiError(http.StatusNotFound, errors.New("no firefox_sync database is open"))
	case label != "":
		return nil, apiError(http.StatusNotFound, fmt.Errorf("no open database %q (open: %s)", label, strings.Join(labels, ", ")))
	case len(all) > 1:
		return nil, apiError(http.StatusBadRequest, fmt.Errorf("several databases are open, add ?database= with one of: %s", strings.Join(labels, ", ")))
	}
	return all[0], nil
}

// routeJSON is a route row as the admin API shows it.
type routeJSON struct {
	Username     string     `json:"username"`
	State        string     `json:"state"`
	Effective    string     `json:"effective_state"`
	Node         string     `json:"node"`
	Bucket       int        `json:"bucket"`
	Owner        string     `json:"owner,omitempty"`
	Origin       string     `json:"origin,omitempty"`
	LeaseExpires *time.Time `json:"lease_expires,omitempty"`
	LastError    string     `json:"last_error,omitempty"`
	Updated      time.Time  `json:"updated"`
}

func routeView(r *syncstore.Route, now time.Time) routeJSON {
	v := routeJSON{
		Username:  r.Username,
		State:     string(r.State),
		Effective: string(r.Effective(now)),
		Node:      r.Node,
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

// Interface guards
var (
	_ caddy.AdminRouter = (*adminRoutes)(nil)
	_ caddy.Provisioner = (*adminRoutes)(nil)
)
