package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/syncserver/syncserver/syncstore"
)

// The operator commands live next to the module rather than in
// cmd/syncserver so that they open stores exactly like the handler does
// (Database.open), are covered by this package's tests, and come along
// in any Caddy build that includes the module (xcaddy).
func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:      "dev",
		Usage:     "[--listen <addr>] [--data <dir>] [--public-url <url>] [--registration open|closed]",
		Short:     "Serves Firefox Sync over plain HTTP from SQLite, for trying it out",
		Long:      devLong,
		CobraFunc: setupDevCommand,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:      "users",
		Usage:     "add|list|delete|passwd ...",
		Short:     "Manages Firefox Sync accounts in the database",
		Long:      usersLong,
		CobraFunc: setupUsersCommand,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:      "routes",
		Usage:     "status|list|get|set ...",
		Short:     "Shows and changes the migration route table (legacy, migrating, native per user)",
		Long:      routesLong,
		CobraFunc: setupRoutesCommand,
	})
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:      "purge",
		Usage:     "[--db sqlite|mysql] [--data <dir>] [--dsn <dsn>]",
		Short:     "Deletes Firefox Sync records whose TTL has expired",
		Long:      purgeLong,
		CobraFunc: setupPurgeCommand,
	})
}

// dsnEnv is read when --dsn is not given, so the password stays out of
// shell history and process listings.
const dsnEnv = "SYNCSERVER_MYSQL_DSN"

// addDatabaseFlags adds the flags that select the database to fs.
func addDatabaseFlags(fs *pflag.FlagSet) {
	fs.String("db", DriverSQLite, "Database driver: sqlite or mysql")
	fs.String("data", DefaultDataDir, "SQLite data directory (the server's database dir)")
	fs.String("dsn", "", "MySQL DSN, user:password@tcp(host:3306)/dbname (default: $"+dsnEnv+")")
}

// databaseFromFlags builds the Database the flags describe.
func databaseFromFlags(fs *pflag.FlagSet) (Database, error) {
	driver, _ := fs.GetString("db")
	d := Database{Driver: driver}
	switch driver {
	case DriverSQLite:
		d.Dir, _ = fs.GetString("data")
		if fs.Changed("dsn") {
			return d, errors.New("--dsn is for --db mysql")
		}
	case DriverMySQL:
		d.DSN, _ = fs.GetString("dsn")
		if d.DSN == "" {
			d.DSN = os.Getenv(dsnEnv)
		}
		if d.DSN == "" {
			return d, fmt.Errorf("--db mysql needs --dsn or the %s environment variable", dsnEnv)
		}
		if fs.Changed("data") {
			return d, errors.New("--data is for --db sqlite")
		}
	default:
		return d, fmt.Errorf("--db %q: want sqlite or mysql", driver)
	}
	return d, d.validate()
}

// openFromFlags opens the store the command's flags describe. The caller
// closes it.
func openFromFlags(cmd *cobra.Command) (syncstore.Store, error) {
	d, err := databaseFromFlags(cmd.Flags())
	if err != nil {
		return nil, err
	}
	return d.open(commandContext(cmd))
}

// commandContext is the context for a command run; cobra leaves it nil
// when Execute (rather than ExecuteContext) started it.
func commandContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// readPassword gets a new password: from the first line of stdin with
// --password-stdin, otherwise typed twice at a terminal without echo.
func readPassword(cmd *cobra.Command) (string, error) {
	fromStdin, _ := cmd.Flags().GetBool("password-stdin")
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading the password from stdin: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("stdin is not a terminal: pipe the password in with --password-stdin")
	}
	out := cmd.ErrOrStderr()
	fmt.Fprint(out, "New password: ")
	first, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprint(out, "Repeat it: ")
	second, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(out)
	if err != nil {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	if string(first) != string(second) {
		return "", errors.New("the passwords do not match")
	}
	return string(first), nil
}

// checkPassword applies the registration rules (docs/protocol.md §8.3 rule 6),
// so an operator cannot set a password a client could not have chosen.
func checkPassword(username, password string) error {
	switch {
	case password == "":
		return errors.New("the password is empty")
	case len(password) < 8:
		return errors.New("the password is too short: at least 8 bytes")
	case strings.EqualFold(strings.TrimSpace(password), username):
		return errors.New("the password must not be the username")
	}
	return nil
}

const purgeLong = `
Deletes the records whose TTL has expired (clients give tabs and some
other records a lifetime). Reads already hide expired records; purging
gives their space back and keeps quotas exact.

A running server purges by itself every purge_interval (default 1h).
Run this instead from cron when purge_interval is off, for example on
all but one of several servers sharing a MySQL database.

Examples:
  $ syncserver purge
  $ syncserver purge --data /var/lib/syncserver
  $ SYNCSERVER_MYSQL_DSN='sync:secret@tcp(db:3306)/sync' syncserver purge --db mysql
`

func setupPurgeCommand(cmd *cobra.Command) {
	addDatabaseFlags(cmd.Flags())
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		store, err := openFromFlags(cmd)
		if err != nil {
			return err
		}
		defer store.Close()
		n, err := purgeExpired(commandContext(cmd), store, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted %d expired records\n", n)
		return nil
	}
}
