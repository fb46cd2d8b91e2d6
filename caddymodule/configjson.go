package caddymodule

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

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

// looksLikeJSON tells a config meant as JSON (by its name, or an object
// whose first key is quoted) from a Caddyfile, which may also start with
// "{" (its global options) but never with {" .
func looksLikeJSON(path string, body []byte) bool {
	if strings.EqualFold(filepath.Ext(path), ".json") {
		return true
	}
	rest, ok := bytes.CutPrefix(bytes.TrimSpace(body), []byte("{"))
	if !ok {
		return false
	}
	rest = bytes.TrimSpace(rest)
	return len(rest) > 0 && (rest[0] == '"' || rest[0] == '}')
}

// jsonConfigError describes a JSON config that does not parse, with the
// line of the mistake.
func jsonConfigError(path string, body []byte, err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		line := 1 + bytes.Count(body[:min(int(syn.Offset), len(body))], []byte("\n"))
		return fmt.Errorf("%s is not valid JSON: %v, at line %d", path, err, line)
	}
	return fmt.Errorf("%s is not valid JSON: %w", path, err)
}
