package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/spf13/cobra"
)

// adapterName is the Caddyfile adapter the commands that load a config
// use: Caddy's own, with its hints naming this binary.
const adapterName = "syncserver-caddyfile"

func init() {
	caddyconfig.RegisterAdapter(adapterName, caddyfileAdapter{})
}

// caddyfileAdapter is Caddy's Caddyfile adapter whose warnings say
// 'syncserver fmt' where Caddy's say 'caddy fmt': the adapter's texts are
// fixed, and this binary has no command named caddy.
type caddyfileAdapter struct{}

func (caddyfileAdapter) Adapt(body []byte, options map[string]any) ([]byte, []caddyconfig.Warning, error) {
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(body, options)
	for i := range warnings {
		warnings[i].Message = rename(warnings[i].Message)
	}
	return out, warnings, err
}

// useSyncserverAdapter makes a Caddy command that adapts a Caddyfile use
// caddyfileAdapter: where it would pick Caddy's Caddyfile adapter (by
// --adapter caddyfile, by the file's name, or ./Caddyfile when no config
// is given), the flags name ours instead.
func useSyncserverAdapter(cmd *cobra.Command) {
	run := cmd.RunE
	if run == nil || cmd.Flags().Lookup("adapter") == nil || cmd.Flags().Lookup("config") == nil {
		return
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		adapter, _ := f.GetString("adapter")
		config, _ := f.GetString("config")
		switch {
		case adapter == "caddyfile":
			_ = f.Set("adapter", adapterName)
		case adapter != "":
		case config != "" && isCaddyfileName(config):
			_ = f.Set("adapter", adapterName)
		case config == "" && (cmd.Name() == "run" || cmd.Name() == "start"):
			// Caddy loads ./Caddyfile by itself when it exists.
			if st, err := os.Stat("Caddyfile"); err == nil && st.Mode().IsRegular() {
				_ = f.Set("config", "Caddyfile")
				_ = f.Set("adapter", adapterName)
			}
		}
		return run(cmd, args)
	}
}

// isCaddyfileName is Caddy's rule for a config file that is a Caddyfile
// without --adapter: named Caddyfile*, or *.caddyfile, and not *.json.
func isCaddyfileName(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	if filepath.Ext(base) == ".json" {
		return false
	}
	return strings.HasPrefix(base, "caddyfile") || strings.HasSuffix(base, ".caddyfile")
}
