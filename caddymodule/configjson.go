package caddymodule

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// adaptCaddyfile turns a Caddyfile into its JSON config.
func adaptCaddyfile(path string, body []byte) (any, error) {
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
	var cfg any
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		return nil, fmt.Errorf("adapting %s: %w", path, err)
	}
	return cfg, nil
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
