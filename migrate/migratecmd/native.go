package migratecmd

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

// nativeStore is a native backend as the command uses it.
type nativeStore interface {
	syncstore.Store
	syncstore.BulkStore
	syncstore.RouteTable
}

// oldNativeEnv is the native DSN's former variable, still read when
// storeopen.DSNEnv is not set.
const oldNativeEnv = "SYNCSERVER_NATIVE_DSN"

// addOldNativeFlags keeps the native side's former flag names working for
// scripts written for them; they set --db, --data and --dsn.
func addOldNativeFlags(f *pflag.FlagSet) {
	f.String("native-driver", "", "old name of --db")
	f.String("native-dir", "", "old name of --data")
	f.String("native-dsn", "", "old name of --dsn")
	for _, name := range []string{"native-driver", "native-dir", "native-dsn"} {
		_ = f.MarkDeprecated(name, "use --db, --data and --dsn, as for the other commands")
	}
}

// nativeGetenv is os.Getenv with the old native DSN variable as a
// fallback for storeopen.DSNEnv.
func nativeGetenv(key string) string {
	v := os.Getenv(key)
	if v == "" && key == storeopen.DSNEnv {
		v = os.Getenv(oldNativeEnv)
	}
	return v
}

// openNative opens the existing native database the flags describe and
// says on stderr which one it is.
func (o *options) openNative(ctx context.Context, cmd *cobra.Command) (nativeStore, error) {
	f := cmd.Flags()
	for old, cur := range map[string]string{"native-driver": "db", "native-dir": "data", "native-dsn": "dsn"} {
		if f.Changed(old) && !f.Changed(cur) {
			v, _ := f.GetString(old)
			if err := f.Set(cur, v); err != nil {
				return nil, fmt.Errorf("--%s: %w", old, err)
			}
		}
	}
	server, err := o.serverConfig()
	if err != nil {
		return nil, err
	}
	var s syncstore.Store
	var c storeopen.Config
	if server != nil && !dbFlagsGiven(f) {
		// The server's own database, as its config names it.
		c = server.Database
		c.Create, _ = f.GetBool("create")
		if err := c.Validate(); err != nil {
			return nil, fmt.Errorf("native database of --config %s: %w%s", o.cache.config, err, emptyDSNHint(c))
		}
		s, err = storeopen.Open(ctx, c)
		if errors.Is(err, storeopen.ErrNoDatabase) {
			err = fmt.Errorf("%w (the database of --config %s; a relative SQLite dir is relative to the directory the server runs in: "+
				"run migrate there, or name the database with --data or --dsn)", err, o.cache.config)
		}
		if err != nil {
			return nil, fmt.Errorf("native database: %w", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "database: %s (from %s)\n", c.Label(), o.cache.config)
	} else if s, c, err = storeopen.OpenFlags(ctx, f, nativeGetenv, cmd.ErrOrStderr()); err != nil {
		return nil, fmt.Errorf("native database: %w", err)
	}
	n, ok := s.(nativeStore)
	if !ok {
		s.Close()
		return nil, fmt.Errorf("native database: the %T store cannot take imports", s)
	}
	o.nativeLabel = c.Label()
	return n, nil
}

// dbFlagsGiven reports whether the command line names the native
// database itself, which then wins over the one of --config.
func dbFlagsGiven(f *pflag.FlagSet) bool {
	for _, name := range []string{"db", "data", "dsn"} {
		if f.Changed(name) {
			return true
		}
	}
	return false
}

// serverConfig reads --config's databases and shards once; nil without
// --config.
func (o *options) serverConfig() (*serverConfig, error) {
	if o.cache.config == "" {
		return nil, nil
	}
	if o.server == nil {
		sc, err := readServerConfig(o.cache.config)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		o.server = sc
	}
	return o.server, nil
}
