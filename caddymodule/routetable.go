package caddymodule

import (
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// routeTable is the migration route table the shim, the admin API and the
// routes command use: the contract declared once in syncstore (an alias,
// not a second declaration).
type routeTable = syncstore.RouteTable

// routesOf returns the route table of an open store, through a caching
// layer if there is one.
func routesOf(s syncstore.Store) (routeTable, error) {
	t, ok := syncstore.RouteTableOf(s)
	if !ok {
		return nil, fmt.Errorf("the %T database has no route table", s)
	}
	return t, nil
}
