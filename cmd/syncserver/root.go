package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// binaryName is what every help text and hint calls the program.
const binaryName = "syncserver"

// caddyDocs is where Caddy documents the commands it brings along.
const caddyDocs = "https://caddyserver.com/docs/command-line"

// newRootCommand builds the command tree from the commands registered
// with caddycmd.RegisterCommand (Caddy's own and ours), the supported way
// to own the root: caddycmd.Main's root command hard-codes Caddy's
// examples and a footer linking Caddy's docs under every subcommand, and
// offers no hook to change them.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:     binaryName,
		Long:    longDescription,
		Example: rootExample,
		Version: versionText(),
		// Usage after a provisioning error buries the error; errors are
		// printed once, by main (plain "Error: …").
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("{{.Version}}\n")
	registered := caddycmd.Commands()
	names := make([]string, 0, len(registered))
	for name := range registered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		root.AddCommand(toCobra(registered[name]))
	}
	root.AddCommand(manpageCommand())
	return root
}

// manpageCommand replaces Caddy's, which caddycmd.Main adds to its own
// root only.
func manpageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "manpage --directory <path>",
		Short: "Generates the manual pages of syncserver's commands",
		Long: `
Generates a manual page per command into --directory (created if
missing), in section 8 (system administration).`,
		Args: cobra.NoArgs,
	}
	cmd.Flags().StringP("directory", "o", "", "Directory to write the pages to")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		dir, _ := cmd.Flags().GetString("directory")
		if strings.TrimSpace(dir) == "" {
			return errors.New("--directory is required")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return doc.GenManTree(cmd.Root(), &doc.GenManHeader{Title: "SYNCSERVER", Section: "8"}, dir)
	}
	return cmd
}

// replacesBinary are Caddy's commands that download a stock Caddy build
// in place of the running binary: here they would replace syncserver with
// a server that has no firefox_sync module.
var replacesBinary = map[string]bool{"upgrade": true, "add-package": true, "remove-package": true}

const rootExample = `  $ syncserver
  $ syncserver run --config Caddyfile
  $ syncserver users add alice@example.com
  $ syncserver migrate --legacy-dsn 'sync:secret@tcp(db:3306)/fsyncms' --canary 5
  $ syncserver reload --config Caddyfile`

// toCobra is caddycmd's conversion of a registered command, plus: Caddy's
// own commands get their texts renamed for this binary, a footer pointing
// at Caddy's documentation of them (which is theirs to document), and the
// Caddyfile adapter that names this binary in its hints.
func toCobra(c caddycmd.Command) *cobra.Command {
	fromCaddy := isCaddys(c)
	cmd := &cobra.Command{
		Use:   strings.TrimSpace(c.Name + " " + c.Usage),
		Short: c.Short,
		Long:  c.Long,
	}
	if fromCaddy && replacesBinary[c.Name] {
		cmd.Hidden = true
		cmd.Short = "Not available: it would replace syncserver with a stock Caddy build"
		cmd.DisableFlagParsing = true
		cmd.RunE = func(*cobra.Command, []string) error {
			return fmt.Errorf("%q downloads a stock Caddy build in place of this binary; rebuild syncserver from source to change its modules", c.Name)
		}
		return cmd
	}
	if fromCaddy {
		cmd.Short, cmd.Long = rename(cmd.Short), rename(cmd.Long)
	}
	if c.CobraFunc != nil {
		c.CobraFunc(cmd)
	} else {
		cmd.RunE = wrapCommandFunc(c.Func)
		cmd.Flags().AddGoFlagSet(c.Flags)
	}
	if !fromCaddy {
		return cmd
	}
	for _, sub := range cmd.Commands() {
		sub.Short, sub.Long = rename(sub.Short), rename(sub.Long)
	}
	cmd.Example = rename(cmd.Example)
	cmd.SetHelpTemplate(cmd.HelpTemplate() + "\nCaddy documents this command at " + caddyDocs + "#caddy-" + c.Name + "\n")
	useSyncserverAdapter(cmd)
	return cmd
}

// isCaddys reports whether Caddy (rather than syncserver or another
// plugin) registered c, by the package of its function.
func isCaddys(c caddycmd.Command) bool {
	var fn any = c.CobraFunc
	if c.CobraFunc == nil {
		fn = c.Func
	}
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	return f != nil && strings.HasPrefix(f.Name(), "github.com/caddyserver/caddy/")
}

// renames turn Caddy's command lines into this binary's: 'caddy run',
// "caddy run", $ caddy run. Caddy's nouns (Caddyfile, Caddy's JSON) stay.
var renames = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`(['"$>` + "`" + `] ?)caddy\b`), "${1}" + binaryName},
	{regexp.MustCompile(`\bwhich caddy\b`), "which " + binaryName},
}

func rename(s string) string {
	for _, r := range renames {
		s = r.re.ReplaceAllString(s, r.to)
	}
	return s
}

// wrapCommandFunc runs a caddycmd.CommandFunc keeping its exit status.
func wrapCommandFunc(f caddycmd.CommandFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		status, err := f(caddycmd.Flags{FlagSet: cmd.Flags()})
		if err == nil && status == 0 {
			return nil
		}
		return &exitError{code: max(status, 1), err: err}
	}
}

// exitError carries a command's exit status to main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// execute runs the command line args and returns the exit status. Errors
// are printed once, as "Error: …" on stderr, unless the command already
// reported it (Caddy's commands log their own errors and say so by
// silencing cobra).
func execute(root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	if cmd == nil || !cmd.SilenceErrors || cmd == root {
		if msg := err.Error(); msg != "" && !strings.HasPrefix(msg, "exit status ") {
			fmt.Fprintln(stderr, "Error:", msg)
		}
	}
	return exitCode(err)
}

// exitCode is the status a command asked for: ours through exitError,
// Caddy's through its own error type, whose ExitCode field is the only
// way it exposes one; 1 otherwise.
func exitCode(err error) int {
	var ours *exitError
	if errors.As(err, &ours) {
		return ours.code
	}
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("ExitCode"); f.IsValid() && f.Kind() == reflect.Int && f.Int() > 0 {
			return int(f.Int())
		}
	}
	return 1
}

func versionText() string {
	_, full := caddy.Version()
	return binaryName + " (Caddy " + full + ")"
}
