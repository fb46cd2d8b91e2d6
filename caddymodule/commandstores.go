package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/caddymodule/shim"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// serverConfig is what the operator commands learn from the server's
// config (--config): the firefox_sync handlers' own database, their
// shards and their legacy nodes, placeholders replaced as the server
// replaces them.
type serverConfig struct {
	path     string
	database *Database // nil when no handler is in the config
	shards   []Shard
	nodes    []string
}

// readServerConfig reads a Caddyfile or JSON config. Every firefox_sync
// handler in it must use one database and agree on the shards they share
// by name: the commands act on one directory.
func readServerConfig(path string) (*serverConfig, error) {
	cfg, err := loadConfigJSON(path)
	if err != nil {
		return nil, err
	}
	sc := &serverConfig{path: path}
	var own string
	shardIDs := map[string]string{}
	var firstErr error
	walkJSON(cfg, func(m map[string]any) {
		if m["handler"] != "firefox_sync" || firstErr != nil {
			return
		}
		raw, _ := json.Marshal(m)
		var h Handler
		if err := json.Unmarshal(raw, &h); err != nil {
			firstErr = fmt.Errorf("%s: a firefox_sync handler: %w", path, err)
			return
		}
		h.replacePlaceholders(caddy.NewReplacer())
		if err := h.validateShards(); err != nil {
			firstErr = fmt.Errorf("%s: %w", path, err)
			return
		}
		db := h.database()
		id, err := db.identity()
		if err != nil {
			firstErr = err
			return
		}
		switch {
		case sc.database == nil:
			sc.database, own = &db, id
		case id != own:
			firstErr = fmt.Errorf("%s: its firefox_sync handlers use different databases (%s, %s); give a config of one", path, sc.database.label(), db.label())
			return
		}
		for _, s := range h.Shards {
			sid, _ := s.Database.identity()
			if prev, ok := shardIDs[s.Name]; ok {
				if prev != sid {
					firstErr = fmt.Errorf("%s: shard %s is configured with two different databases", path, s.Name)
				}
				continue
			}
			shardIDs[s.Name] = sid
			sc.shards = append(sc.shards, s)
		}
		if h.Legacy != nil {
			sc.nodes = append(sc.nodes, h.Legacy.NodeNames()...)
		}
	})
	if firstErr != nil {
		return nil, firstErr
	}
	if sc.database == nil {
		// Falling back to the flags' default database would act on
		// whatever ./data holds.
		return nil, fmt.Errorf("%s has no firefox_sync handler: is it the Sync server's config?", path)
	}
	return sc, nil
}

// shard returns the configured shard of that name.
func (sc *serverConfig) shard(name string) (*Shard, bool) {
	for i := range sc.shards {
		if sc.shards[i].Name == name {
			return &sc.shards[i], true
		}
	}
	return nil, false
}

// weights are the shards' shares of new users.
func (sc *serverConfig) weights() []syncstore.ShardWeight {
	h := Handler{Shards: sc.shards}
	return h.shardWeights()
}

// commandStores are the databases an operator command works on: the
// directory (the flags' database, or the config's when no database flag
// is given) and, with --config, the shards, each opened when first
// needed so that a shard that is down only fails the users on it.
type commandStores struct {
	cmd    *cobra.Command
	own    syncstore.Store
	config *serverConfig // nil without --config
	shards map[string]syncstore.Store
}

// databaseFlagGiven reports whether the command line chose the database.
func databaseFlagGiven(cmd *cobra.Command) bool {
	for _, f := range []string{"db", "data", "dsn"} {
		if cmd.Flags().Changed(f) {
			return true
		}
	}
	return false
}

// openCommandStores opens the directory database. The caller closes the
// result.
func openCommandStores(cmd *cobra.Command) (*commandStores, error) {
	c := &commandStores{cmd: cmd, shards: map[string]syncstore.Store{}}
	if path, _ := cmd.Flags().GetString("config"); path != "" {
		sc, err := readServerConfig(path)
		if err != nil {
			return nil, err
		}
		c.config = sc
	}
	var err error
	if c.config != nil && c.config.database != nil && !databaseFlagGiven(cmd) {
		c.own, err = openForCommand(cmd, *c.config.database, "database")
	} else {
		c.own, err = openFromFlags(cmd)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// openForCommand opens an existing database of the config, as the flags'
// one is opened (no deadline, not created), and says which on stderr.
func openForCommand(cmd *cobra.Command, d Database, what string) (syncstore.Store, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	c := d.storeConfig()
	c.Create = false
	s, err := storeopen.Open(commandContext(cmd), c)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", what, c.Label())
	return s, nil
}

// store returns the store of a shard ("" = the directory database).
func (c *commandStores) store(shard string) (syncstore.Store, error) {
	if shard == "" {
		return c.own, nil
	}
	if s, ok := c.shards[shard]; ok {
		return s, nil
	}
	if c.config == nil {
		return nil, fmt.Errorf("shard %s is not known here: give the server's config with --config", shard)
	}
	sh, ok := c.config.shard(shard)
	if !ok {
		return nil, fmt.Errorf("shard %s is not configured in %s", shard, c.config.path)
	}
	s, err := openForCommand(c.cmd, *sh.Database, "shard "+shard)
	if err != nil {
		return nil, fmt.Errorf("opening shard %s: %w", shard, err)
	}
	c.shards[shard] = s
	return s, nil
}

// shardUsers finds accounts on the shards for the route checks.
func (c *commandStores) shardUsers() shim.ShardUsers {
	return func(shard string) (shim.UserFinder, error) { return c.store(shard) }
}

// route is the user's route row in the directory; nil without a row or a
// route table.
func (c *commandStores) route(ctx context.Context, user string) (*syncstore.Route, error) {
	table, err := routesOf(c.own)
	if err != nil {
		return nil, nil
	}
	r, err := table.GetRoute(ctx, user)
	if errors.Is(err, syncstore.ErrNoRoute) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the route of %s: %w", user, err)
	}
	return r, nil
}

// shardOf is the shard the user's route row names; "" (the directory
// database) without a row or a route table.
func (c *commandStores) shardOf(ctx context.Context, user string) (string, error) {
	r, err := c.route(ctx, user)
	if err != nil || r == nil {
		return "", err
	}
	return r.Shard, nil
}

// userStore is the store holding the user's account: their row's shard.
// A shard that cannot be opened is an error naming the user and shard.
func (c *commandStores) userStore(ctx context.Context, user string) (syncstore.Store, string, error) {
	shard, err := c.shardOf(ctx, user)
	if err != nil {
		return nil, "", err
	}
	s, err := c.store(shard)
	if err != nil {
		return nil, shard, fmt.Errorf("user %s is on shard %s: %w", user, shard, err)
	}
	return s, shard, nil
}

// newUserShard is where `users add` creates an account, by the rule of
// registration: the shard the user's row already names; otherwise the
// directory database when it holds the name (CreateUser then says it
// exists); otherwise PickShard over the open shards of --config, or the
// directory database when none is open.
func (c *commandStores) newUserShard(ctx context.Context, user string) (string, error) {
	if table, err := routesOf(c.own); err == nil {
		r, err := table.GetRoute(ctx, user)
		if err == nil {
			return r.Shard, nil
		}
		if !errors.Is(err, syncstore.ErrNoRoute) {
			return "", fmt.Errorf("reading the route of %s: %w", user, err)
		}
	}
	if c.config == nil || len(c.config.shards) == 0 {
		return "", nil
	}
	if exists, err := shim.UserExists(ctx, c.own, user); err != nil || exists {
		return "", err
	}
	name, ok := syncstore.PickShard(user, c.config.weights())
	if !ok {
		return "", nil
	}
	return name, nil
}

// close closes every store opened.
func (c *commandStores) close() {
	for _, s := range c.shards {
		s.Close()
	}
	c.own.Close()
}

// loadConfigJSON reads a config file, adapting a Caddyfile to JSON.
func loadConfigJSON(path string) (any, error) {
	body, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	var cfg any
	err = json.Unmarshal(body, &cfg)
	switch {
	case err == nil:
		return cfg, nil
	case looksLikeJSON(path, body):
		return nil, jsonConfigError(path, body, err)
	}
	return adaptCaddyfile(path, body)
}
