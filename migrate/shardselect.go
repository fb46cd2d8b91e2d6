package migrate

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
)

// accountLister pages through a shard's accounts.
type accountLister interface {
	ListUsers(ctx context.Context, after string, limit int) ([]syncstore.User, error)
}

// ShardSource is where a move's --all or --canary looks for users.
type ShardSource struct {
	// Shard is --from ("" = the default database).
	Shard string
	// Accounts lists the shard's accounts.
	Accounts accountLister
	// RowlessNative: users without a route row are native on the default
	// database (Config.RowlessNative).
	RowlessNative bool
	// Leftover, if set, reports whether an account on the shard whose
	// row names shard is a copy a move to that shard left behind and
	// must delete (a run stopped between its flip and the deletion):
	// such users are selected too, so that a rerun of the same command
	// finishes them. Nil: leftovers are not selected (--keep-source).
	Leftover func(user, shard string) bool
}

// ResolveShard lists the selected users of a shard move, normalized,
// sorted and without duplicates: the named ones, and with All or Canary
// the users whose route row names the shard and is native (or migrating
// back to native), the rowless native users when the shard is the default
// database, and the accounts a stopped move left on it (Leftover).
func (s *Selection) ResolveShard(ctx context.Context, routes syncstore.RouteTable, src ShardSource) ([]string, error) {
	names, err := s.parseNamed()
	if err != nil {
		return nil, err
	}
	s.Scanned = 0
	if !s.All && s.Canary == 0 {
		return dedupe(names), nil
	}
	pick := func(name string) {
		s.Scanned++
		if s.All || syncstore.Bucket(name) < s.Canary {
			names = append(names, name)
		}
	}
	rows := map[string]*syncstore.Route{}
	err = syncstore.EachRoute(ctx, routes, func(r *syncstore.Route) error {
		rc := *r
		rows[r.Username] = &rc
		if r.Shard == src.Shard && (r.State == syncstore.RouteNative || r.State == syncstore.RouteMigrating && r.Origin == syncstore.RouteNative) {
			pick(r.Username)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	if src.Shard == "" && src.RowlessNative || src.Leftover != nil {
		err := eachAccount(ctx, src.Accounts, func(u *syncstore.User) {
			r, ok := rows[u.Name]
			switch {
			case !ok:
				if src.Shard == "" && src.RowlessNative {
					pick(u.Name)
				}
			case r.Shard != src.Shard && r.State == syncstore.RouteNative && src.Leftover != nil && src.Leftover(u.Name, r.Shard):
				pick(u.Name)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("listing the accounts of shard %s: %w", syncstore.ShardLabel(src.Shard), err)
		}
	}
	return dedupe(names), nil
}

// eachAccount calls fn for every account of l, in name order.
func eachAccount(ctx context.Context, l accountLister, fn func(*syncstore.User)) error {
	if l == nil {
		return errors.New("no account list")
	}
	const page = 1000
	after := ""
	for {
		us, err := l.ListUsers(ctx, after, page)
		if err != nil {
			return err
		}
		for i := range us {
			fn(&us[i])
		}
		if len(us) < page {
			return nil
		}
		after = us[len(us)-1].Name
	}
}

// CheckShard fails, naming them as typed, if any named user has no
// account on the shard and no route row naming it: a typo must not read
// as "nothing to do". (A user whose row names another shard is reported
// per user by MoveUser, with the shard it is on.)
func (s *Selection) CheckShard(ctx context.Context, users userFinder, routes syncstore.RouteTable) error {
	return s.checkAccountOrRow(ctx, users, routes, "neither an account on the source shard nor a route row")
}
