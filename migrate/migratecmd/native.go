package migratecmd

import (
	"context"
	"errors"
	"fmt"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/mysqlstore"
	"github.com/syncserver/syncserver/syncstore/sqlitestore"
)

// nativeStore is a native backend as the command uses it.
type nativeStore interface {
	syncstore.BulkStore
	syncstore.RouteTable
	Close() error
}

func (o *options) openNative(ctx context.Context) (nativeStore, error) {
	switch o.nativeDriver {
	case "sqlite":
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Dir: o.nativeDir})
		if err != nil {
			return nil, fmt.Errorf("opening the native store: %w", err)
		}
		return s, nil
	case "mysql":
		if o.nativeDSN == "" {
			return nil, errors.New("--native-driver mysql needs --native-dsn or SYNCSERVER_NATIVE_DSN")
		}
		s, err := mysqlstore.Open(ctx, mysqlstore.Config{DSN: o.nativeDSN})
		if err != nil {
			return nil, fmt.Errorf("opening the native store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown --native-driver %q (want sqlite or mysql)", o.nativeDriver)
}
