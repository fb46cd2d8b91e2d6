package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	cmd.Example = `  $ syncserver routes status
  $ syncserver routes list --state migrating
  $ syncserver routes get alice@example.com
  $ syncserver routes set alice@example.com legacy --node node2`
	cmd.AddCommand(routesStatusCommand(), routesListCommand(), routesGetCommand(), routesSetCommand())
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

// openRoutes opens the flags' database and its route table.
func openRoutes(cmd *cobra.Command) (syncstore.Store, routeTable, error) {
	store, err := openFromFlags(cmd)
	if err != nil {
		return nil, nil, err
	}
	t, err := routesOf(store)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, t, nil
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
		store, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer store.Close()
		st, err := syncstore.ReadRouteStatus(commandContext(cmd), table, time.Now())
		if err != nil {
			return fmt.Errorf("reading the route table: %w", err)
		}
		st.Write(cmd.OutOrStdout(), recent)
		return nil
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
	cmd.Flags().String("after", "", "Start after this username (for paging)")
	cmd.Flags().Int("limit", 0, "List at most this many rows (0: all)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		state, _ := cmd.Flags().GetString("state")
		node, _ := cmd.Flags().GetString("node")
		after, _ := cmd.Flags().GetString("after")
		limit, _ := cmd.Flags().GetInt("limit")
		if state != "" && !syncstore.RouteState(state).Valid() {
			return fmt.Errorf("--state %q: want legacy, migrating or native", state)
		}
		if limit < 0 {
			return fmt.Errorf("--limit %d: must not be negative", limit)
		}
		store, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer store.Close()
		now := time.Now()
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSTATE\tNODE\tBUCKET\tLEASE\tLAST ERROR")
		const page = 1000
		for listed := 0; limit == 0 || listed < limit; {
			rows, err := table.ListRoutes(commandContext(cmd), after, page)
			if err != nil {
				return fmt.Errorf("listing routes: %w", err)
			}
			for i := range rows {
				r := &rows[i]
				if (state != "" && string(r.Effective(now)) != state) || (node != "" && r.Node != node) {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Username, stateText(r, now), r.Node, syncstore.Bucket(r.Username), leaseText(r, now), r.LastError)
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
		store, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer store.Close()
		ctx := commandContext(cmd)
		r, err := table.GetRoute(ctx, name)
		if errors.Is(err, syncstore.ErrNoRoute) {
			r = nil
		} else if err != nil {
			return fmt.Errorf("reading the route of %s: %w", acct, err)
		}
		hasAccount, err := shim.UserExists(ctx, store, name)
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
		fmt.Fprintf(out, "state:     %s\nnode:      %s\nlease:     %s\nupdated:   %s\n", stateText(r, now), r.Node, leaseText(r, now),
			r.Updated.UTC().Format(time.RFC3339))
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
user from the native database and needs a native account.`,
		Example: `  $ syncserver routes set alice@example.com native
  $ syncserver routes set bob legacy --node node2 --config /etc/syncserver/Caddyfile
  $ syncserver routes set --force carol native`,
		Args: cobra.ExactArgs(2),
	}
	cmd.Flags().String("node", "", "Legacy node of the user (default: keep the row's); must be a node a route row or --config's legacy block names")
	cmd.Flags().String("config", "", "The server's config (Caddyfile or JSON), whose legacy nodes --node may name")
	cmd.Flags().Bool("force", false, "Override a migrate run's lease; allow native without a native account, an unknown user or an unknown node")
	cmd.Flags().String("admin", "", "Make the change through this running server's admin endpoint (host:port), which applies it there at once")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		acct, err := syncstore.ParseAccount(args[0])
		if err != nil {
			return err
		}
		name := acct.Name
		node, _ := cmd.Flags().GetString("node")
		force, _ := cmd.Flags().GetBool("force")
		if admin, _ := cmd.Flags().GetString("admin"); admin != "" {
			return setRouteViaAdmin(cmd, admin, name, shim.RouteUpdate{State: args[1], Node: node, Force: force})
		}
		store, table, err := openRoutes(cmd)
		if err != nil {
			return err
		}
		defer store.Close()
		ctx := commandContext(cmd)
		if !force {
			configured, where, err := configuredNodes(cmd)
			if err != nil {
				return err
			}
			if err := shim.CheckRouteTarget(ctx, store, table, acct, node, configured, where, "--force"); err != nil {
				return err
			}
		}
		old, next, err := shim.ChangeRoute(ctx, table, store,
			shim.RouteChange{User: name, State: syncstore.RouteState(args[1]), Node: node, Force: force}, time.Now())
		if err != nil {
			return err
		}
		from := "no row"
		if old != nil {
			from = string(old.State)
			if old.Node != "" {
				from += " (node " + old.Node + ")"
			}
		}
		to := string(next.State)
		if next.Node != "" {
			to += " (node " + next.Node + ")"
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
	fmt.Fprintf(cmd.OutOrStdout(), "route of %s: %s; in effect at once on %s, within route_cache_ttl elsewhere\n", name, to, admin)
	return nil
}

// configuredNodes reads the legacy nodes of the --config file, and says
// where they came from.
func configuredNodes(cmd *cobra.Command) (nodes []string, where string, err error) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		return nil, "no --config names the server's config to accept its legacy nodes", nil
	}
	nodes, err = configNodes(path)
	if err != nil {
		return nil, "", err
	}
	return nodes, "the legacy blocks of " + path + " do not configure it", nil
}
