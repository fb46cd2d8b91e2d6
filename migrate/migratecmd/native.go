package migratecmd

import (
	"context"
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
	s, c, err := storeopen.OpenFlags(ctx, f, nativeGetenv, cmd.ErrOrStderr())
	if err != nil {
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
