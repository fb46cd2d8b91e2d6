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
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/syncserver/syncserver/bench"
	_ "github.com/syncserver/syncserver/caddymodule"
	_ "github.com/syncserver/syncserver/migrate/migratecmd"
)

func main() {
	caddy.CustomBinaryName = "syncserver"
	caddy.CustomLongDescription = longDescription
	os.Args = withDefaultCommand(os.Args)
	caddycmd.Main()
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

Manage accounts and data:

	$ syncserver users add alice@example.com
	$ syncserver users list
	$ syncserver purge

Every other Caddy command (run, start, stop, reload, adapt, validate,
fmt, list-modules, ...) works as in Caddy.`
