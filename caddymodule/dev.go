package caddymodule

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/spf13/cobra"
	"go.uber.org/zap"
)

// Defaults of the dev command, which is also what a bare `syncserver`
// runs.
const (
	DefaultDevListen = "127.0.0.1:5000"
)

const devLong = `
Serves Firefox Sync over plain HTTP on 127.0.0.1:5000, storing everything
in SQLite under ./data, with open registration. This is what running
syncserver without arguments does. Point Firefox (or any Sync 1.1 client)
at http://127.0.0.1:5000/ as its custom sync server.

No TLS and no admin endpoint: for production, write a Caddyfile and use
'syncserver run --config Caddyfile' (see the example Caddyfile).

Examples:
  $ syncserver
  $ syncserver dev --listen 0.0.0.0:5000 --public-url http://192.168.1.10:5000/
  $ syncserver dev --data /var/tmp/sync --registration closed
`

// devOptions are the dev command's flags.
type devOptions struct {
	Listen       string
	DataDir      string
	PublicURL    string
	Registration string
	AccessLog    bool
}

func setupDevCommand(cmd *cobra.Command) {
	cmd.Flags().String("listen", DefaultDevListen, "Address to listen on")
	cmd.Flags().String("data", DefaultDataDir, "SQLite data directory")
	cmd.Flags().String("public-url", "", "URL clients reach the server at (default http://<listen>/)")
	cmd.Flags().String("registration", RegistrationOpen, "Who may create accounts: open or closed")
	cmd.Flags().Bool("access-log", false, "Log every request")
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var o devOptions
		o.Listen, _ = cmd.Flags().GetString("listen")
		o.DataDir, _ = cmd.Flags().GetString("data")
		o.PublicURL, _ = cmd.Flags().GetString("public-url")
		o.Registration, _ = cmd.Flags().GetString("registration")
		o.AccessLog, _ = cmd.Flags().GetBool("access-log")
		cfg, publicURL, err := devConfig(o)
		if err != nil {
			return err
		}
		if err := checkListenFree(o.Listen); err != nil {
			return err
		}
		caddy.TrapSignals()
		if err := caddy.Run(cfg); err != nil {
			return err
		}
		caddy.Log().Info("serving Firefox Sync; set it as the client's server URL",
			zap.String("url", publicURL), zap.String("data", o.DataDir))
		select {}
	}
}

// devConfig builds the Caddy config of the dev command and returns it with
// the public URL it uses.
func devConfig(o devOptions) (*caddy.Config, string, error) {
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("--listen %q: want host:port: %w", o.Listen, err)
	}
	// Checked here, before Caddy creates the SQLite database and only
	// then fails on the listener.
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		if _, numeric := strconv.ParseUint(port, 10, 64); numeric == nil {
			return nil, "", fmt.Errorf("--listen %q: port %s is out of range (0 to 65535)", o.Listen, port)
		}
		return nil, "", fmt.Errorf("--listen %q: port %q is not a number (0 to 65535)", o.Listen, port)
	}
	switch o.Registration {
	case "", RegistrationOpen, RegistrationClosed:
	case RegistrationAllowlist:
		return nil, "", fmt.Errorf("--registration allowlist needs a list: use a Caddyfile")
	default:
		return nil, "", fmt.Errorf("--registration %q: want open or closed (allowlist needs a Caddyfile)", o.Registration)
	}
	publicURL := o.PublicURL
	if publicURL == "" {
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		publicURL = (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port), Path: "/"}).String()
	}
	handler := Handler{
		Database:     &Database{Driver: DriverSQLite, Dir: o.DataDir},
		PublicURL:    publicURL,
		Registration: o.Registration,
	}
	// Catch mistakes here with a flag-sized message rather than as a
	// provisioning error deep in Caddy's output.
	if err := handler.Validate(); err != nil {
		if o.PublicURL != "" && strings.HasPrefix(err.Error(), "public_url ") {
			return nil, "", fmt.Errorf("--public-url: %w", err)
		}
		return nil, "", err
	}

	server := &caddyhttp.Server{
		Listen:            []string{o.Listen},
		ReadHeaderTimeout: caddy.Duration(10 * time.Second),
		IdleTimeout:       caddy.Duration(2 * time.Minute),
		Routes: caddyhttp.RouteList{{
			HandlersRaw: []json.RawMessage{caddyconfig.JSONModuleObject(handler, "handler", "firefox_sync", nil)},
		}},
		AutoHTTPS: &caddyhttp.AutoHTTPSConfig{Disabled: true},
	}
	if o.AccessLog {
		server.Logs = &caddyhttp.ServerLogConfig{}
	}
	persist := false
	cfg := &caddy.Config{
		Admin: &caddy.AdminConfig{
			Disabled: true,
			Config:   &caddy.ConfigSettings{Persist: &persist},
		},
		AppsRaw: caddy.ModuleMap{
			"http": caddyconfig.JSON(caddyhttp.App{
				Servers: map[string]*caddyhttp.Server{"sync": server},
			}, nil),
		},
	}
	return cfg, publicURL, nil
}

// checkListenFree refuses an address another process already serves.
// Caddy listens with SO_REUSEPORT (so that a reload can bind the new
// listener before closing the old one), so on Linux a second dev server
// on the same address starts without an error, and the kernel then hands
// each connection to either process: with two data directories, a client
// sees its account one request and not the next (401s at random). A
// connection that succeeds means someone answers there. Between this
// check and the listen another process may still start; the check is for
// the common mistake, not a lock.
func checkListenFree(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: want host:port: %w", listen, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 500*time.Millisecond)
	if err != nil {
		return nil
	}
	conn.Close()
	return fmt.Errorf("--listen %s: another process already serves this address (a syncserver or Caddy started earlier?); "+
		"a second server would share the port with it and clients would reach either one at random: stop that one, or give another --listen", listen)
}
