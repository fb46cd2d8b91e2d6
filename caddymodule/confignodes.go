package caddymodule

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// configNodes reads a server config (a Caddyfile, or JSON when the file
// holds a JSON object) and returns the legacy node names of every
// firefox_sync handler in it, so that `routes set --node` can tell a
// configured node from a typo.
func configNodes(path string) ([]string, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	var cfg any
	if json.Unmarshal(body, &cfg) != nil {
		// httpcaddyfile, which this package's directive registers with,
		// provides the adapter.
		adapter := caddyconfig.GetAdapter("caddyfile")
		if adapter == nil {
			return nil, fmt.Errorf("%s is not JSON and no Caddyfile adapter is built in", path)
		}
		adapted, _, err := adapter.Adapt(body, map[string]any{"filename": path})
		if err != nil {
			return nil, fmt.Errorf("adapting %s: %w", path, err)
		}
		if err := json.Unmarshal(adapted, &cfg); err != nil {
			return nil, fmt.Errorf("adapting %s: %w", path, err)
		}
	}
	var nodes []string
	walkJSON(cfg, func(m map[string]any) {
		if m["handler"] != "firefox_sync" {
			return
		}
		legacy, _ := m["legacy"].(map[string]any)
		ns, _ := legacy["nodes"].(map[string]any)
		for name := range ns {
			nodes = append(nodes, name)
		}
	})
	return nodes, nil
}

// walkJSON calls fn on every object in v.
func walkJSON(v any, fn func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		fn(v)
		for _, e := range v {
			walkJSON(e, fn)
		}
	case []any:
		for _, e := range v {
			walkJSON(e, fn)
		}
	}
}
