package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

const usersLong = `
Manages Firefox Sync accounts directly in the database, for example when
registration is closed. The commands work while the server runs.

Accounts are named by e-mail address in Firefox; the Sync username is
derived from it (base32 of the SHA-1 of the lower-cased address), and
every command below accepts either form.

The database flags (--db, --data, --dsn) select the same database as the
server's "database" setting. For MySQL, put the DSN in the
SYNCSERVER_MYSQL_DSN environment variable rather than on the command line;
when it is set, MySQL is used unless --db or --data says otherwise. The
database must exist (the server creates it on its first start; --create
makes a new one on purpose), and every command prints the database it used
on standard error.

With native shards, give the server's config with --config: "add" places
a new account on a shard as registration does, "passwd", "delete" and
"show" act on the shard the user's route row names, and "list --shard"
lists one shard. Without --config, a user on a shard is an error naming it.

A running server remembers verified passwords for auth_cache_ttl (default
5m): after "passwd" or "delete" the old password may keep working there
for that long.
`

func setupUsersCommand(cmd *cobra.Command) {
	storeopen.AddFlags(cmd.PersistentFlags())
	cmd.PersistentFlags().String("config", "", "The server's config (Caddyfile or JSON): its database (unless --db, --data or --dsn say otherwise) and its shards")
	cmd.Example = `  $ syncserver users add alice@example.com
  $ syncserver users list
  $ syncserver users passwd alice@example.com
  $ syncserver users delete --yes alice@example.com`
	cmd.AddCommand(usersAddCommand(), usersListCommand(), usersShowCommand(), usersDeleteCommand(), usersPasswdCommand())
	// Runnable with no arguments, so a mistyped subcommand is an error
	// rather than a help page with exit status 0.
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
}

func usersAddCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add <email | username>",
		Short: "Creates an account",
		Long: `
Creates an account. Give the e-mail address the user will type into Firefox;
the Sync username is derived from it. A plain username (legacy Weave
accounts) is used as it is; then --email records an address.

The password is asked for twice without echo, or read from the first line
of stdin with --password-stdin. It needs at least 8 bytes and must differ
from the username, as on registration.`,
		Example: `  $ syncserver users add alice@example.com
  $ printf '%s\n' "$PASSWORD" | syncserver users add --password-stdin alice@example.com
  $ syncserver users add --db mysql --dsn 'sync:secret@tcp(db:3306)/sync' bob@example.com
  $ syncserver users add --email carol@example.com carol`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().Bool("password-stdin", false, "Read the password from the first line of stdin")
	cmd.Flags().String("email", "", "E-mail address to record for a plain username")
	cmd.Flags().Int("bcrypt-cost", 0, "bcrypt cost of the password hash (default 10)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		acct, err := syncstore.ParseAccount(args[0])
		if err != nil {
			return err
		}
		name, email := acct.Name, acct.Email
		if flagEmail, _ := cmd.Flags().GetString("email"); flagEmail != "" {
			if email != "" {
				return errors.New("--email is for plain usernames; the account is already an e-mail address")
			}
			if !strings.Contains(flagEmail, "@") || strings.ContainsAny(flagEmail, " \t\r\n") {
				return fmt.Errorf("--email %q is not an e-mail address", flagEmail)
			}
			email = flagEmail
		}
		password, err := readPassword(cmd)
		if err != nil {
			return err
		}
		if err := checkPassword(name, password); err != nil {
			return err
		}
		cost, _ := cmd.Flags().GetInt("bcrypt-cost")
		hash, err := syncstore.HashPassword(password, cost)
		if err != nil {
			return err
		}
		stores, err := openCommandStores(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		ctx := commandContext(cmd)
		shard, err := stores.newUserShard(ctx, name)
		if err != nil {
			return fmt.Errorf("placing user %s: %w", describe(name, email), err)
		}
		store, err := stores.store(shard)
		if err != nil {
			return err
		}
		u := &syncstore.User{Name: name, PasswordHash: hash, Email: email}
		if err := store.CreateUser(ctx, u); err != nil {
			if errors.Is(err, syncstore.ErrUserExists) {
				return fmt.Errorf("user %s already exists", describe(name, email))
			}
			return fmt.Errorf("creating user %s: %w", describe(name, email), err)
		}
		if err := routeNewUser(ctx, stores.own, name, shard); err != nil {
			return fmt.Errorf("user %s created, but: %w", describe(name, email), err)
		}
		where := ""
		if shard != "" {
			where = " on shard " + shard
		}
		fmt.Fprintf(cmd.OutOrStdout(), "created user %s%s\n", describe(name, email), where)
		return nil
	}
	return cmd
}

func usersListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Lists accounts in username order",
		Example: `  $ syncserver users list
  $ syncserver users list --limit 50 --after 7qrzrjz52vgwen6e7w2y7v6xknd46wxt`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().String("after", "", "Start after this username (for paging)")
	cmd.Flags().Int("limit", 0, "List at most this many accounts (0: all)")
	cmd.Flags().String("shard", "", "List the accounts of this shard of --config (default: the server's own database)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		after, _ := cmd.Flags().GetString("after")
		limit, _ := cmd.Flags().GetInt("limit")
		if limit < 0 {
			return fmt.Errorf("--limit %d: must not be negative", limit)
		}
		shard := ""
		if flag, _ := cmd.Flags().GetString("shard"); flag != "" {
			var err error
			if shard, err = syncstore.ParseShardName(flag); err != nil {
				return fmt.Errorf("--shard: %w", err)
			}
		}
		stores, err := openCommandStores(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		store, err := stores.store(shard)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tEMAIL")
		const page = 500
		for listed := 0; limit == 0 || listed < limit; {
			n := page
			if limit > 0 {
				n = min(page, limit-listed)
			}
			users, err := store.ListUsers(commandContext(cmd), after, n)
			if err != nil {
				return fmt.Errorf("listing users: %w", err)
			}
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\n", u.Name, u.Email)
			}
			listed += len(users)
			if len(users) < n {
				break
			}
			after = users[len(users)-1].Name
		}
		return tw.Flush()
	}
	return cmd
}

func usersDeleteCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete <email | username>",
		Short: "Deletes an account and all of its sync data",
		Long: `
Deletes an account and every record it stored (on its native shard, with
--config). This cannot be undone. Without --yes the command asks for
confirmation at a terminal. A user a migrate run holds a lease on is
refused.

The user's route row is kept, as when a client deletes its own account:
without it the shim would serve the name from its default_state, and a
migrated user from the copy of the account that may still be on the legacy
PHP server, with the old password and the old data. The name stays on the
native side: requests are refused as for any unknown user, and it can be
registered again there. Delete the legacy copy on the PHP server yourself.`,
		Example: `  $ syncserver users delete alice@example.com
  $ syncserver users delete --yes 7qrzrjz52vgwen6e7w2y7v6xknd46wxt`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().Bool("yes", false, "Do not ask for confirmation")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		acct, err := syncstore.ParseAccount(args[0])
		if err != nil {
			return err
		}
		stores, err := openCommandStores(cmd)
		if err != nil {
			return err
		}
		defer stores.close()
		return deleteUser(cmd, stores, acct)
	}
	return cmd
}

// deleteUser deletes the account and its data where its route row says it
// lives, and keeps the row (usersDeleteCommand says why). A user some
// migrate run holds a lease on is refused: that run would otherwise copy
// or flip a user being deleted.
func deleteUser(cmd *cobra.Command, stores *commandStores, acct syncstore.Account) error {
	ctx := commandContext(cmd)
	row, err := stores.route(ctx, acct.Name)
	if err != nil {
		return err
	}
	if row != nil && row.LeaseHeld(time.Now()) {
		return fmt.Errorf("user %s is being migrated or moved (lease of %s until %s): nothing deleted; delete it once that run ends",
			acct.Name, row.Owner, row.LeaseExpires.UTC().Format(time.RFC3339))
	}
	shard, where := "", ""
	if row != nil && row.Shard != "" {
		shard, where = row.Shard, " on shard "+row.Shard
	}
	store, err := stores.store(shard)
	if err != nil {
		return fmt.Errorf("user %s is on shard %s: %w; nothing deleted", acct.Name, shard, err)
	}
	u, err := store.LookupUser(ctx, acct.Name)
	switch {
	case errors.Is(err, syncstore.ErrNotFound):
		return shim.NoUserError(acct)
	case err != nil:
		return fmt.Errorf("looking up user %s%s: %w", acct, where, err)
	}
	who, out := describe(u.Name, u.Email), cmd.OutOrStdout()
	if yes, _ := cmd.Flags().GetBool("yes"); !yes {
		ok, err := confirm(cmd, fmt.Sprintf("Delete user %s and all of its sync data? [y/N] ", who))
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("not deleted")
		}
	}
	if err := store.DeleteUser(ctx, u.ID); err != nil {
		return fmt.Errorf("deleting user %s%s: %w", who, where, err)
	}
	kept := "no route row"
	if row != nil {
		kept = "its route row (" + routeText(row) + ") is kept"
	}
	fmt.Fprintf(out, "deleted user %s and its data%s; %s\n", who, where, kept)
	return nil
}

func usersPasswdCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "passwd <email | username>",
		Short: "Sets an account's password",
		Long: `
Sets a new password. Firefox then asks the user for it on its next sync
(the stored sync data stays; it is encrypted with the user's recovery
key, not with the password).`,
		Example: `  $ syncserver users passwd alice@example.com
  $ printf '%s\n' "$PASSWORD" | syncserver users passwd --password-stdin alice@example.com`,
		Args: cobra.ExactArgs(1),
	}
	cmd.Flags().Bool("password-stdin", false, "Read the password from the first line of stdin")
	cmd.Flags().Int("bcrypt-cost", 0, "bcrypt cost of the password hash (default 10)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		found, err := findCommandUser(cmd, args[0])
		if err != nil {
			return err
		}
		defer found.stores.close()
		store, u := found.store, found.user
		password, err := readPassword(cmd)
		if err != nil {
			return err
		}
		if err := checkPassword(u.Name, password); err != nil {
			return err
		}
		cost, _ := cmd.Flags().GetInt("bcrypt-cost")
		if u.PasswordHash, err = syncstore.HashPassword(password, cost); err != nil {
			return err
		}
		if err := store.UpdateUser(commandContext(cmd), u); err != nil {
			return fmt.Errorf("setting the password of %s: %w", u.Name, err)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", describe(u.Name, u.Email))
		return nil
	}
	return cmd
}

// routeNewUser writes a native route row naming the shard of an account
// just created here, unless the user has a row: behind a migration shim
// whose default_state is legacy, a rowless user would be sent to the
// legacy server, where this account does not exist, and a user on a
// shard is only found through the row.
func routeNewUser(ctx context.Context, store syncstore.Store, name, shard string) error {
	table, err := routesOf(store)
	if err != nil {
		return nil // no route table, no shim
	}
	if _, err := table.CompareAndSwapRoute(ctx, nil, syncstore.Route{Username: name, State: syncstore.RouteNative, Shard: shard}); err != nil {
		return fmt.Errorf("writing its native route: %w", err)
	}
	return nil
}

func usersShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show <email | username>",
		Short: "Shows an account: its shard, e-mail address and route",
		Example: `  $ syncserver users show alice@example.com
  $ syncserver users show --config /etc/syncserver/Caddyfile 7qrzrjz52vgwen6e7w2y7v6xknd46wxt`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		found, err := findCommandUser(cmd, args[0])
		if err != nil {
			return err
		}
		defer found.stores.close()
		ctx := commandContext(cmd)
		stores, shard, u := found.stores, found.shard, found.user
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "user:      %s\nemail:     %s\nshard:     %s\n", u.Name, u.Email, syncstore.ShardLabel(shard))
		if table, err := routesOf(stores.own); err == nil {
			r, err := table.GetRoute(ctx, u.Name)
			switch {
			case errors.Is(err, syncstore.ErrNoRoute):
				fmt.Fprintln(out, "route:     none (follows the server's default_state)")
			case err != nil:
				return fmt.Errorf("reading the route of %s: %w", u.Name, err)
			default:
				fmt.Fprintf(out, "route:     %s\n", routeText(r))
			}
		}
		return nil
	}
	return cmd
}

// commandUser is the account an operator command names, found on its
// shard; the caller closes stores.
type commandUser struct {
	stores *commandStores
	store  syncstore.Store
	shard  string
	user   *syncstore.User
}

// findCommandUser opens the command's databases and finds the account arg
// names (an e-mail address or a Sync username) on the shard its route row
// names; an unknown account is an error naming what was typed.
func findCommandUser(cmd *cobra.Command, arg string) (*commandUser, error) {
	acct, err := syncstore.ParseAccount(arg)
	if err != nil {
		return nil, err
	}
	stores, err := openCommandStores(cmd)
	if err != nil {
		return nil, err
	}
	store, shard, err := stores.userStore(commandContext(cmd), acct.Name)
	if err == nil {
		var u *syncstore.User
		if u, err = lookupUser(cmd, store, acct); err == nil {
			return &commandUser{stores: stores, store: store, shard: shard, user: u}, nil
		}
	}
	stores.close()
	return nil, err
}

// lookupUser finds the account the operator named; an unknown one is an
// error naming what they typed.
func lookupUser(cmd *cobra.Command, store syncstore.Store, a syncstore.Account) (*syncstore.User, error) {
	u, err := store.LookupUser(commandContext(cmd), a.Name)
	if errors.Is(err, syncstore.ErrNotFound) {
		return nil, shim.NoUserError(a)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up user %s: %w", a, err)
	}
	return u, nil
}

// confirm asks a yes/no question at the terminal.
func confirm(cmd *cobra.Command, question string) (bool, error) {
	f, ok := cmd.InOrStdin().(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, errors.New("stdin is not a terminal: add --yes to confirm")
	}
	fmt.Fprint(cmd.ErrOrStderr(), question)
	answer, _ := bufio.NewReader(f).ReadString('\n')
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}

func describe(name, email string) string {
	if email == "" {
		return name
	}
	return name + " (" + email + ")"
}
