package local

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/bench"
)

// Starter starts a server of each kind, benched in that order, for
// bench.Options.Run: the servers hash passwords at the run's bcrypt cost
// and log under its logger. Stopping them also drops the databases they
// created unless opts.Keep.
func Starter(kinds []string, opts Options) bench.Starter {
	return func(ctx context.Context, cfg *bench.Config) (func() error, error) {
		for i, kind := range kinds {
			if slices.Contains(kinds[:i], kind) {
				return nil, fmt.Errorf("--local %s given twice", kind)
			}
		}
		var started []*Server
		stop := func() error {
			var errs []error
			for i := len(started) - 1; i >= 0; i-- {
				errs = append(errs, started[i].Close())
			}
			return errors.Join(errs...)
		}
		logger := cfg.Logger
		if logger == nil {
			logger = zap.NewNop()
		}
		for _, kind := range kinds {
			o := opts
			o.BcryptCost, o.Logger = cfg.BcryptCost, logger.Named(kind)
			srv, err := Start(ctx, kind, o)
			if err != nil {
				return stop, fmt.Errorf("--local %s: %w", kind, err)
			}
			started = append(started, srv)
			cfg.Targets = append(cfg.Targets, srv.Target)
			if cfg.Seeders == nil {
				cfg.Seeders = map[string]bench.Seeder{}
			}
			cfg.Seeders[srv.Target.Name] = srv.Seeder
			logger.Info("local server", zap.String("kind", kind), zap.String("url", srv.Target.URL.String()))
		}
		return stop, nil
	}
}
