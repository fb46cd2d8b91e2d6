package migratecmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// serverConfig is what migrate reads of the server's config (--config):
// where the native data is (the handler's own database, the "default"
// shard, and its shards), how rowless users are served, and how long the
// server's instances may follow a cached route. The config is adapted to
// JSON as Caddy would adapt it; this package does not import the
// handler's types (caddymodule), so it reads their JSON fields.
type serverConfig struct {
	// Database is the handler's own database: the route table and the
	// default shard's data.
	Database storeopen.Config
	// Shards are the handler's shards in config order.
	Shards []shardConfig
	// RowlessNative: users without a route row are served natively (no
	// legacy block, or default_state native).
	RowlessNative bool
	// RouteCacheTTL bounds how long reads may follow a cached route row.
	RouteCacheTTL time.Duration
}

// shardConfig is one entry of the handler's "shards".
type shardConfig struct {
	Name     string
	Database storeopen.Config
	// Weight is the share of new users; 0 when closed.
	Weight int
}

// defaultRouteCacheTTL is the server's route_cache_ttl default
// (caddymodule/shim.DefaultRouteCacheTTL).
const defaultRouteCacheTTL = 5 * time.Second

// handlerJSON is the part of the firefox_sync handler's JSON migrate
// reads (caddymodule.Handler).
type handlerJSON struct {
	Database *databaseJSON `json:"database"`
	Shards   []struct {
		Name     string        `json:"name"`
		Database *databaseJSON `json:"database"`
		Weight   *int          `json:"weight"`
		Closed   bool          `json:"closed"`
	} `json:"shards"`
	Legacy *struct {
		DefaultState  string          `json:"default_state"`
		RouteCacheTTL *caddy.Duration `json:"route_cache_ttl"`
	} `json:"legacy"`
}

// databaseJSON is a database block (caddymodule.Database) without the
// server-only settings (db_timeout: operator commands have no deadline).
type databaseJSON struct {
	Driver          string         `json:"driver"`
	Dir             string         `json:"dir"`
	DSN             string         `json:"dsn"`
	MaxOpenConns    int            `json:"max_open_conns"`
	MaxIdleConns    int            `json:"max_idle_conns"`
	ConnMaxLifetime caddy.Duration `json:"conn_max_lifetime"`
}

// storeConfig is the database as storeopen opens it, placeholders such as
// {env.NAME} resolved as the server resolves them, never created: the
// server creates databases, a migrate run that finds none was pointed at
// the wrong one.
func (d *databaseJSON) storeConfig(repl *caddy.Replacer) storeopen.Config {
	if d == nil {
		return storeopen.Config{Driver: storeopen.DriverSQLite, Dir: storeopen.DefaultDir}
	}
	c := storeopen.Config{
		Driver:          d.Driver,
		Dir:             repl.ReplaceKnown(d.Dir, ""),
		DSN:             repl.ReplaceKnown(d.DSN, ""),
		MaxOpenConns:    d.MaxOpenConns,
		MaxIdleConns:    d.MaxIdleConns,
		ConnMaxLifetime: time.Duration(d.ConnMaxLifetime),
	}
	if c.DriverName() == storeopen.DriverSQLite && c.Dir == "" {
		c.Dir = storeopen.DefaultDir
	}
	return c
}

// adaptConfig reads a server config, a Caddyfile or a JSON object, as
// JSON.
func adaptConfig(path string) (any, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the server config: %w", err)
	}
	var cfg any
	err = json.Unmarshal(body, &cfg)
	switch {
	case err == nil:
		return cfg, nil
	case looksLikeJSON(path, body):
		return nil, jsonConfigError(path, body, err)
	}
	// The binary links the firefox_sync directive and Caddy's Caddyfile
	// adapter; this package does not import them.
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
	return cfg, nil
}

// firefoxSyncHandlers returns the firefox_sync handlers of an adapted
// config, as JSON objects.
func firefoxSyncHandlers(cfg any) []map[string]any {
	var out []map[string]any
	walkJSON(cfg, func(m map[string]any) {
		if m["handler"] == "firefox_sync" {
			out = append(out, m)
		}
	})
	return out
}

// readServerConfig reads the native databases of the server config at
// path. Several firefox_sync handlers (sites) must agree on them: one
// route table, one set of shards.
func readServerConfig(path string) (*serverConfig, error) {
	cfg, err := adaptConfig(path)
	if err != nil {
		return nil, err
	}
	handlers := firefoxSyncHandlers(cfg)
	if len(handlers) == 0 {
		return nil, fmt.Errorf("%s has no firefox_sync handler: is it the Sync server's config?", path)
	}
	repl := caddy.NewReplacer()
	var out *serverConfig
	for _, h := range handlers {
		raw, err := json.Marshal(h)
		if err != nil {
			return nil, err
		}
		var hj handlerJSON
		if err := json.Unmarshal(raw, &hj); err != nil {
			return nil, fmt.Errorf("%s: reading the firefox_sync handler: %w", path, err)
		}
		sc, err := hj.serverConfig(repl)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if out == nil {
			out = sc
			continue
		}
		if !reflect.DeepEqual(out.Database, sc.Database) || !reflect.DeepEqual(out.Shards, sc.Shards) {
			return nil, fmt.Errorf("%s: its firefox_sync handlers use different databases or shards; migrate needs one route table and one set of shards", path)
		}
	}
	return out, nil
}

func (hj *handlerJSON) serverConfig(repl *caddy.Replacer) (*serverConfig, error) {
	sc := &serverConfig{
		Database:      hj.Database.storeConfig(repl),
		RowlessNative: hj.Legacy == nil || hj.Legacy.DefaultState == string(syncstore.RouteNative),
		RouteCacheTTL: defaultRouteCacheTTL,
	}
	if hj.Legacy != nil && hj.Legacy.RouteCacheTTL != nil {
		sc.RouteCacheTTL = time.Duration(*hj.Legacy.RouteCacheTTL)
	}
	// Databases are validated when opened: a run given --data or --dsn
	// never opens the config's own database, whose {env.…} DSN may be
	// unset where migrate runs. Only databases that are complete take
	// part in the check for one database named twice.
	ids := map[string]string{}
	if sc.Database.Validate() == nil {
		ids[databaseID(sc.Database)] = syncstore.DefaultShard
	}
	for _, s := range hj.Shards {
		if !syncstore.ValidShardName(s.Name) {
			return nil, fmt.Errorf("shard name %q: want 1 to 32 characters of a-z, 0-9, _ and -, not %q", s.Name, syncstore.DefaultShard)
		}
		if s.Database == nil {
			return nil, fmt.Errorf("shard %s has no database", s.Name)
		}
		c := shardConfig{Name: s.Name, Database: s.Database.storeConfig(repl), Weight: 1}
		if s.Weight != nil {
			c.Weight = *s.Weight
		}
		if s.Closed {
			c.Weight = 0
		}
		if c.Database.Validate() == nil {
			id := databaseID(c.Database)
			if other, dup := ids[id]; dup {
				return nil, fmt.Errorf("shard %s: its database is already shard %s's (%s)", s.Name, other, c.Database.Label())
			}
			ids[id] = s.Name
		}
		for _, o := range sc.Shards {
			if o.Name == s.Name {
				return nil, fmt.Errorf("shard name %q is used twice", s.Name)
			}
		}
		sc.Shards = append(sc.Shards, c)
	}
	return sc, nil
}

// shard returns the named shard's config ("default": the handler's own
// database, as shard "").
func (sc *serverConfig) shard(name string) (shardConfig, bool) {
	if name == syncstore.DefaultShard || name == "" {
		return shardConfig{Database: sc.Database}, true
	}
	for _, s := range sc.Shards {
		if s.Name == name {
			return s, true
		}
	}
	return shardConfig{}, false
}

// names lists the shards for error messages, "default" first.
func (sc *serverConfig) names() []string {
	out := []string{syncstore.DefaultShard}
	for _, s := range sc.Shards {
		out = append(out, s.Name)
	}
	return out
}

// weights are the shards' shares of new users (syncstore.PickShard).
func (sc *serverConfig) weights() []syncstore.ShardWeight {
	var out []syncstore.ShardWeight
	for _, s := range sc.Shards {
		out = append(out, syncstore.ShardWeight{Name: s.Name, Weight: s.Weight})
	}
	return out
}

// databaseID identifies a database whatever the credentials: the SQLite
// directory, or the MySQL server and database name.
func databaseID(c storeopen.Config) string {
	if c.DriverName() == storeopen.DriverSQLite {
		dir, err := c.SQLiteDir()
		if err != nil {
			dir = c.Dir
		}
		return "sqlite|" + dir
	}
	return "mysql|" + c.Label()
}

// looksLikeJSON tells a config meant as JSON (by its name, or an object
// whose first key is quoted) from a Caddyfile, which may also start with
// "{" (its global options) but never with {" . (caddymodule has the same
// rule for the other operator commands.)
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
