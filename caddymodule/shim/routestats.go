package shim

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// routeStats keeps the users-per-state gauge up to date with one cheap
// GROUP BY every interval, rather than on every scrape.
type routeStats struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startRouteStats(table syncstore.RouteTable, gauge *prometheus.GaugeVec, every time.Duration, logger *zap.Logger) *routeStats {
	ctx, cancel := context.WithCancel(context.Background())
	s := &routeStats{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			refreshRouteStats(ctx, table, gauge, every, logger)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func refreshRouteStats(ctx context.Context, table syncstore.RouteTable, gauge *prometheus.GaugeVec, every time.Duration, logger *zap.Logger) {
	ctx, cancel := context.WithTimeout(ctx, min(every, 30*time.Second))
	defer cancel()
	counts, err := table.CountRoutes(ctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("counting route states failed", zap.Error(err))
		}
		return
	}
	for _, st := range []syncstore.RouteState{syncstore.RouteLegacy, syncstore.RouteMigrating, syncstore.RouteNative} {
		gauge.WithLabelValues(string(st)).Set(float64(counts[st]))
	}
}

func (s *routeStats) stop() {
	s.cancel()
	<-s.done
}
