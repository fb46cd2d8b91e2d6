// Command syncserver is a Firefox Sync 1.1 server: Caddy with the
// firefox_sync module and its operator commands compiled in.
//
// Without arguments it serves plain HTTP on 127.0.0.1:5000 from SQLite in
// ./data (the dev command); `syncserver run --config Caddyfile` runs it in
// production. `syncserver help` lists every command.
package main

import (
	"os"

	"github.com/caddyserver/caddy/v2"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/syncserver/syncserver/bench"
	_ "github.com/syncserver/syncserver/caddymodule"
	_ "github.com/syncserver/syncserver/migrate/migratecmd"
)

func main() {
	// Caddy reads these where it names the binary itself (the start
	// command's child process, completion scripts).
	caddy.CustomBinaryName = binaryName
	caddy.CustomLongDescription = longDescription
	os.Args = withDefaultCommand(os.Args)
	os.Exit(execute(newRootCommand(), os.Args[1:], os.Stderr))
}

// defaultCommand is what a bare `syncserver` runs, so that
// `go run ./cmd/syncserver` gives a working server.
const defaultCommand = "dev"

// withDefaultCommand adds the default command when none was given.
func withDefaultCommand(args []string) []string {
	if len(args) == 1 {
		return append(args[:1:1], defaultCommand)
	}
	return args
}

const longDescription = `syncserver is a Firefox Sync 1.1 server (Weave Storage API 1.0/1.1 and
User API 1.0) for Firefox, Pale Moon and other clients that still speak
the pre-Firefox-Accounts protocol. It is Caddy with the firefox_sync
HTTP handler built in.

Try it out (plain HTTP on 127.0.0.1:5000, SQLite in ./data):

	$ syncserver

Run it in production with a Caddyfile (automatic HTTPS, MySQL):

	$ syncserver run --config Caddyfile

Manage accounts and data (accounts are named by e-mail address or Sync
username in every command; the database must exist, see --create):

	$ syncserver users add alice@example.com
	$ syncserver users list
	$ syncserver routes status
	$ syncserver purge

Move users from a legacy PHP Sync server, and back:

	$ syncserver migrate --legacy-dsn 'sync:secret@tcp(db:3306)/fsyncms' --dry-run --canary 5
	$ syncserver migrate rollback alice@example.com

Errors are printed as "Error: …" on standard error with exit status 1.

The commands Caddy brings (run, start, stop, reload, adapt, validate, fmt,
list-modules, ...) work as in Caddy, which documents them at
https://caddyserver.com/docs/command-line.`
