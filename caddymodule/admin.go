package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/syncserver/syncserver/caddymodule/shim"
)

func init() {
	caddy.RegisterModule(adminRoutes{})
}

// adminRoutes is the admin.api.firefox_sync module: the migration route
// table on Caddy's admin endpoint (never on a site), served by shim.Admin
// for the databases the loaded firefox_sync handlers opened.
type adminRoutes struct {
	admin shim.Admin
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
	a.admin = shim.Admin{Database: adminDatabase, Logger: ctx.Logger()}
	return nil
}

// Routes returns the admin route.
func (a *adminRoutes) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: shim.AdminPath, Handler: caddy.AdminHandlerFunc(a.admin.Serve)}}
}

func apiError(status int, err error) error {
	return caddy.APIError{HTTPStatus: status, Err: err}
}

// adminDatabase finds the open database the request is about.
func adminDatabase(label string) (shim.Database, error) {
	var all []*pooledStore
	databases.Range(func(_, v any) bool {
		// A shard's database has a route table too, but an unused one.
		if p, ok := v.(*pooledStore); ok && p.routes != nil && p.directories.Load() > 0 {
			all = append(all, p)
		}
		return true
	})
	sort.Slice(all, func(i, j int) bool { return all[i].label < all[j].label })
	labels := make([]string, len(all))
	for i, p := range all {
		if p.label == label {
			return shim.Database{Routes: p.routes, Users: p.Store}, nil
		}
		labels[i] = p.label
	}
	switch {
	case len(all) == 0:
		return shim.Database{}, apiError(http.StatusNotFound, errors.New("no firefox_sync database is open"))
	case label != "":
		return shim.Database{}, apiError(http.StatusNotFound, fmt.Errorf("no open database %q (open: %s)", label, strings.Join(labels, ", ")))
	case len(all) > 1:
		return shim.Database{}, apiError(http.StatusBadRequest, fmt.Errorf("several databases are open, add ?database= with one of: %s", strings.Join(labels, ", ")))
	}
	p := all[0]
	return shim.Database{Routes: p.routes, Users: p.Store}, nil
}

// Interface guards
var (
	_ caddy.AdminRouter = (*adminRoutes)(nil)
	_ caddy.Provisioner = (*adminRoutes)(nil)
)
