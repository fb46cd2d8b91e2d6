package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
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
		Usage:     "[--db sqlite|mysql] [--data <dir>] [--dsn <dsn>] [--batch <n>]",
		Short:     "Deletes Firefox Sync records whose TTL has expired",
		Long:      purgeLong,
		CobraFunc: setupPurgeCommand,
	})
}

// openFromFlags opens the existing database the command's flags
// (storeopen.AddFlags) describe and says on stderr which one it is. The
// caller closes it.
func openFromFlags(cmd *cobra.Command) (syncstore.Store, error) {
	s, _, err := storeopen.OpenFlags(commandContext(cmd), cmd.Flags(), os.Getenv, cmd.ErrOrStderr())
	return s, err
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
