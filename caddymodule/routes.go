package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

const routesLong = `
Shows and changes the migration route table: for each user, whether the
server proxies them to a legacy PHP server ("legacy", on a named node),
answers 503 while the migrate tool moves their data ("migrating"), or
serves them from its own database ("native"). Users without a row follow
the legacy block's default_state.

Changes made here reach running servers within their route_cache_ttl
(default 5s); the admin API (PUT /firefox-sync/routes/<user> on the admin
endpoint) also takes effect at once on the server it is sent to.

"set" refuses to touch a user a migrate run holds, to make native a user
without a native account (their data would not be there), a user that
neither has an account nor a route row (a typo), and a --node that no route
row and no legacy block of --config names; --force overrides all of them. Moving data is the migrate tool's job: "syncserver migrate"
copies a user and flips the route, "syncserver migrate rollback" goes back.

The database flags (--db, --data, --dsn) select the same database as the
server's "database" setting; with SYNCSERVER_MYSQL_DSN set, MySQL is used
unless --db or --data says otherwise. The database must exist. Every
command prints the database it used on standard error.
`

func setupRoutesCommand(cmd *cobra.Command) {
	storeopen.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().String("config", "", "The server's config (Caddyfile or JSON): its database (unless --db, --data or --dsn say otherwise), its shards and its legacy nodes")
	cmd.Example = `  $ syncserver routes status
  $ syncserver routes list --state migrating
  $ syncserver routes get alice@example.com
  $ syncserver routes set alice@example.com legacy --node node2`
	cmd.AddCommand(routesStatusCommand(), routesListCommand(), routesGetCommand(), routesSetCommand())
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// openRoutes opens the directory database, its route table and, with
// --config, the shards when needed.
func openRoutes(cmd *cobra.Command) (*commandStores, routeTable, error) {
	stores, err := openCommandStores(cmd)
	if err != nil {
		return nil, nil, err
	}
	t, err := routesOf(stores.own)
	if err != nil {
		stores.close()
		return nil, nil, err
	}
	return stores, t, nil
}

func routesStatusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Counts users per route state and lists recent migration failures",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().Int("recent", 10, "Failures to list")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		recent, _ := cmd.Flags().GetInt("recent")
		stores, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		st, err := syncstore.ReadRouteStatus(commandContext(cmd), table, time.Now())
		if err != nil {
			return fmt.Errorf("reading the route table: %w", err)
		}
		st.Write(cmd.OutOrStdout(), recent)
		return writeShardCounts(cmd, table, stores.config)
	}
	return cmd
}

func routesListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists route rows in username order",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().String("state", "", "Only rows whose effective state is this (legacy, migrating, native)")
	cmd.Flags().String("node", "", "Only rows on this legacy node")
	cmd.Flags().String("shard", "", "Only rows on this native shard (\"default\": the server's own database)")
	cmd.Flags().String("after", "", "Start after this username (for paging)")
	cmd.Flags().Int("limit", 0, "List at most this many rows (0: all)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		state, _ := cmd.Flags().GetString("state")
		node, _ := cmd.Flags().GetString("node")
		shardFlag, _ := cmd.Flags().GetString("shard")
		var shard string
		if shardFlag != "" {
			var err error
			if shard, err = syncstore.ParseShardName(shardFlag); err != nil {
				return fmt.Errorf("--shard: %w", err)
			}
		}
		after, _ := cmd.Flags().GetString("after")
		limit, _ := cmd.Flags().GetInt("limit")
		if state != "" && !syncstore.RouteState(state).Valid() {
			return fmt.Errorf("--state %q: want legacy, migrating or native", state)
		}
		if limit < 0 {
			return fmt.Errorf("--limit %d: must not be negative", limit)
		}
		stores, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		now := time.Now()
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSTATE\tNODE\tSHARD\tBUCKET\tLEASE\tLAST ERROR")
		const page = 1000
		for listed := 0; limit == 0 || listed < limit; {
			rows, err := table.ListRoutes(commandContext(cmd), after, page)
			if err != nil {
				return fmt.Errorf("listing routes: %w", err)
			}
			for i := range rows {
				r := &rows[i]
				if (state != "" && string(r.Effective(now)) != state) || (node != "" && r.Node != node) || (shardFlag != "" && r.Shard != shard) {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.Username, stateText(r, now), r.Node, syncstore.ShardLabel(r.Shard),
					syncstore.Bucket(r.Username), leaseText(r, now), r.LastError)
				if listed++; limit > 0 && listed == limit {
					break
				}
			}
			if len(rows) < page {
				break
			}
			after = rows[len(rows)-1].Username
		}
		return tw.Flush()
	}
	return cmd
}

// writeShardCounts adds the native users per shard to the status, when
// rows name shards or --config has some: a shard's load at a glance, and
// a drained shard's zero.
func writeShardCounts(cmd *cobra.Command, table routeTable, sc *serverConfig) error {
	counts := map[string]int{}
	if sc != nil {
		for _, s := range sc.shards {
			counts[s.Name] = 0
		}
	}
	sharded := len(counts) > 0
	err := syncstore.EachRoute(commandContext(cmd), table, func(r *syncstore.Route) error {
		if r.State == syncstore.RouteNative {
			counts[r.Shard]++
			sharded = sharded || r.Shard != ""
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting native users per shard: %w", err)
	}
	if !sharded {
		return nil
	}
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "\nnative rows per shard (rowless native users are on default):")
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(out, "  %-12s %d\n", syncstore.ShardLabel(name), counts[name])
	}
	return nil
}

// stateText shows the stored state, and the effective one when an
// expired lease makes them differ.
func stateText(r *syncstore.Route, now time.Time) string {
	if eff := r.Effective(now); eff != r.State {
		return fmt.Sprintf("%s (lease expired: %s)", r.State, eff)
	}
	return string(r.State)
}

func leaseText(r *syncstore.Route, now time.Time) string {
	switch {
	case r.Owner == "":
		return "-"
	case r.LeaseHeld(now):
		return fmt.Sprintf("%s until %s", r.Owner, r.LeaseExpires.UTC().Format(time.RFC3339))
	default:
		return r.Owner + " (expired)"
	}
}

func routesGetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get <email | username>",
		Short: "Shows one user's route, canary bucket and log hash",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		acct, err := syncstore.ParseAccount(args[0])
		if err != nil {
			return err
		}
		name := acct.Name
		stores, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		ctx := commandContext(cmd)
		r, err := table.GetRoute(ctx, name)
		if errors.Is(err, syncstore.ErrNoRoute) {
			r = nil
		} else if err != nil {
			return fmt.Errorf("reading the route of %s: %w", acct, err)
		}
		shard := ""
		if r != nil {
			shard = r.Shard
		}
		users, err := stores.store(shard)
		if err != nil {
			return fmt.Errorf("%s is on shard %s: %w", name, shard, err)
		}
		hasAccount, err := shim.UserExists(ctx, users, name)
		if err != nil {
			return err
		}
		if r == nil && !hasAccount {
			return fmt.Errorf("%w: no native account and no route row (a user only the legacy server knows follows its default_state)", shim.NoUserError(acct))
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "user:      %s\nbucket:    %d\nlog hash:  %s\n", name, syncstore.Bucket(name), syncstore.UserHash(name))
		if r == nil {
			fmt.Fprintln(out, "route:     none (follows the server's default_state)")
			return nil
		}
		now := time.Now()
		fmt.Fprintf(out, "state:     %s\nnode:      %s\nshard:     %s\nlease:     %s\nupdated:   %s\n", stateText(r, now), r.Node,
			syncstore.ShardLabel(r.Shard), leaseText(r, now), r.Updated.UTC().Format(time.RFC3339))
		if !hasAccount {
			fmt.Fprintf(out, "account:   none on shard %s\n", syncstore.ShardLabel(r.Shard))
		}
		if r.LastError != "" {
			fmt.Fprintf(out, "last error: %s\n", r.LastError)
		}
		return nil
	}
	return cmd
}

func routesSetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set <email | username> <legacy | migrating | native>",
		Short: "Sets one user's route (operator override)",
		Long: `
Sets one user's route. "legacy" sends the user to a legacy node (--node, or
the node already in the row; empty means the server's host_node),
"migrating" answers 503 until changed (maintenance), "native" serves the
user from the native shard their row names (the server's own database
unless it names one) and needs a native account there. The row's shard is
kept; --shard changes it only with --force, because it moves no data:
"syncserver migrate --from <shard> --to <shard>" moves users between
shards.`,
		Example: `  $ syncserver routes set alice@example.com native
  $ syncserver routes set bob legacy --node node2 --config /etc/syncserver/Caddyfile
  $ syncserver routes set --force carol native
  $ syncserver routes set --force --config /etc/syncserver/Caddyfile dave native --shard s2`,
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().String("node", "", "Legacy node of the user (default: keep the row's); must be a node a route row or --config's legacy block names")
	cmd.Flags().String("shard", "", "Native shard the row names (\"default\": the server's own database); needs --force, moves no data")
	cmd.Flags().Bool("force", false, "Override a migrate run's lease; allow native without a native account, an unknown user or node, a shard change")
	cmd.Flags().String("admin", "", "Make the change through this running server's admin endpoint (host:port), which applies it there at once")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		acct, err := syncstore.ParseAccount(args[0])
		if err != nil {
			return err
		}
		name := acct.Name
		node, _ := cmd.Flags().GetString("node")
		force, _ := cmd.Flags().GetBool("force")
		change := shim.RouteChange{User: name, State: syncstore.RouteState(args[1]), Node: node, Force: force}
		update := shim.RouteUpdate{State: args[1], Node: node, Force: force}
		if cmd.Flags().Changed("shard") {
			flag, _ := cmd.Flags().GetString("shard")
			shard, err := syncstore.ParseShardName(flag)
			if err != nil {
				return fmt.Errorf("--shard: %w", err)
			}
			if !force {
				return fmt.Errorf("--shard %s moves no data, so the user would be served from a shard that does not hold it; use `syncserver migrate --from <shard> --to %s %s` to move the user, or add --force to only rewrite the row", flag, flag, args[0])
			}
			change.Shard, update.Shard = &shard, &flag
		}
		if admin, _ := cmd.Flags().GetString("admin"); admin != "" {
			return setRouteViaAdmin(cmd, admin, name, update)
		}
		stores, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		ctx := commandContext(cmd)
		if !force {
			configured, where := configuredNodes(stores.config)
			if err := shim.CheckRouteTarget(ctx, stores.shardUsers(), table, acct, node, configured, where, "--force"); err != nil {
				return err
			}
		}
		old, next, err := shim.ChangeRoute(ctx, table, stores.shardUsers(), change, time.Now())
		if err != nil {
			return err
		}
		from, to := "no row", routeText(&next)
		if old != nil {
			from = routeText(old)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "route of %s: %s -> %s; running servers follow within their route_cache_ttl\n", name, from, to)
		return nil
	}
	return cmd
}

// setRouteViaAdmin sends the change to a running server's admin API, so
// that its route cache takes it at once.
func setRouteViaAdmin(cmd *cobra.Command, admin, name string, u shim.RouteUpdate) error {
	body, err := json.Marshal(u)
	if err != nil {
		return err
	}
	endpoint := "http://" + admin + shim.AdminPath + url.PathEscape(name)
	req, err := http.NewRequestWithContext(commandContext(cmd), http.MethodPut, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("admin endpoint: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("admin endpoint answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	var row shim.RouteJSON
	if err := json.Unmarshal(answer, &row); err != nil {
		return fmt.Errorf("admin endpoint answered %q: %w", answer, err)
	}
	to := row.State
	if row.Node != "" {
		to += " (node " + row.Node + ")"
	}
	if row.Shard != "" && row.Shard != syncstore.DefaultShard {
		to += " (shard " + row.Shard + ")"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "route of %s: %s; in effect at once on %s, within route_cache_ttl elsewhere\n", name, to, admin)
	return nil
}

// configuredNodes are the legacy nodes of the --config file, and where
// they came from.
func configuredNodes(sc *serverConfig) (nodes []string, where string) {
	if sc == nil {
		return nil, "no --config names the server's config to accept its legacy nodes"
	}
	return sc.nodes, "the legacy blocks of " + sc.path + " do not configure it"
}

// routeText shows a row's state with its node and shard.
func routeText(r *syncstore.Route) string {
	s := string(r.State)
	if r.Node != "" {
		s += " (node " + r.Node + ")"
	}
	if r.Shard != "" {
		s += " (shard " + r.Shard + ")"
	}
	return s
}
