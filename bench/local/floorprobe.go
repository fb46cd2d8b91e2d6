package local

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/syncserver/syncserver/bench"
	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storetest"
)

// The bench's latency targets are ratios to the legacy stand-in, measured
// while the mix saturates the machine. A floor probe shows what part of a
// native write's latency is the database's own: on a store of its own
// (a fresh database of the same kind, so it takes no lock of the server's)
// it runs the floor benchmarks' bare statements (storetest.Floor) a few
// times a second, timing each transaction, while the mix runs in another
// process. What the bare statements need under that load bounds what the
// server's writes can reach under it.

// ProbeConfig configures FloorProbe.
type ProbeConfig struct {
	// Kind is SQLite or MySQL.
	Kind string
	// Rate is how many insert and delete pairs start per second; a pair
	// that is late skips the ticks it missed rather than bunching up.
	Rate float64
	// Duration is how long the probe runs.
	Duration time.Duration
	// Rows is how many records each statement writes or deletes (100: a
	// full upload batch, and Firefox's delete chunk).
	Rows int
	// Records is the size of the collection the probe writes into; each
	// pair adds Rows new records and deletes the Rows oldest, as history
	// expires in the mix.
	Records int
}

// ProbeResult holds the latency of the probe's transactions.
type ProbeResult struct {
	Insert, Delete Latency
}

// Latency summarises the durations of one kind of transaction.
type Latency struct {
	N             int
	P50, P95, P99 time.Duration
}

// summarize reads l from the bench's own latency histogram, so that the
// probe's figures are computed like the bench's endpoint rows beside them.
func summarize(h *bench.Histogram) Latency {
	return Latency{N: int(h.Count()), P50: h.Quantile(0.50), P95: h.Quantile(0.95), P99: h.Quantile(0.99)}
}

// probePayloadSize is the payload of every probe record: the mix's mean
// (bench/records.go payloadSize).
const probePayloadSize = 450

// probeCollection is the collection id the probe's rows carry; the floor
// writes the records table only.
const probeCollection = 1000

// FloorProbe opens a store of cfg.Kind on a fresh database (removed at the
// end unless opts.Keep) and runs the bare floor transactions on it.
func FloorProbe(ctx context.Context, cfg ProbeConfig, opts Options) (res *ProbeResult, err error) {
	switch {
	case cfg.Kind != SQLite && cfg.Kind != MySQL:
		return nil, fmt.Errorf("floor probe: kind %q has no SQL store (want %s or %s)", cfg.Kind, SQLite, MySQL)
	case cfg.Rate <= 0 || cfg.Duration <= 0 || cfg.Rows <= 0 || cfg.Records < cfg.Rows:
		return nil, fmt.Errorf("floor probe: rate %v, duration %v, rows %d and records %d must be positive, with records at least rows",
			cfg.Rate, cfg.Duration, cfg.Rows, cfg.Records)
	}
	s := &Server{}
	defer func() { err = errors.Join(err, s.Close()) }()
	if cfg.Kind == SQLite {
		err = s.openSQLite(ctx, opts)
	} else {
		err = s.openMySQL(ctx, opts)
	}
	if err != nil {
		return nil, err
	}
	sq, ok := s.store.(storetest.SQLDB)
	if !ok {
		return nil, fmt.Errorf("floor probe: the %s store (%T) has no SQL database", cfg.Kind, s.store)
	}
	u := &syncstore.User{Name: "floor-probe", PasswordHash: "x"}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return nil, fmt.Errorf("floor probe: %w", err)
	}
	f := storetest.NewFloor(sq.DB())
	defer f.Close()
	p := &prober{floor: f, user: u.ID, rows: cfg.Rows, r: newProbeRand(cfg.Rows, cfg.Records), payload: strings.Repeat("p", probePayloadSize)}
	for len(p.live) < cfg.Records {
		if _, err := p.insert(ctx); err != nil {
			return nil, err
		}
	}
	var ins, del bench.Histogram
	t := time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
	defer t.Stop()
	end := time.After(cfg.Duration)
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			return &ProbeResult{Insert: summarize(&ins), Delete: summarize(&del)}, nil
		case <-t.C:
		}
		d, err := p.insert(ctx)
		if err != nil {
			return nil, err
		}
		ins.Record(d)
		if d, err = p.deleteOldest(ctx); err != nil {
			return nil, err
		}
		del.Record(d)
	}
}

// prober keeps the ids the probe's collection holds, oldest first.
type prober struct {
	floor   *storetest.Floor
	user    int64
	rows    int
	r       *rand.Rand
	payload string
	live    []string
}

func (p *prober) insert(ctx context.Context) (time.Duration, error) {
	recs := make([]syncstore.WBO, p.rows)
	for i := range recs {
		recs[i] = syncstore.WBO{ID: p.newID(), Payload: &p.payload}
	}
	start := time.Now()
	if err := p.floor.Insert(ctx, p.user, probeCollection, syncstore.TimestampFromTime(start), recs); err != nil {
		return 0, fmt.Errorf("floor probe: %w", err)
	}
	took := time.Since(start)
	for i := range recs {
		p.live = append(p.live, recs[i].ID)
	}
	return took, nil
}

func (p *prober) deleteOldest(ctx context.Context) (time.Duration, error) {
	ids := p.live[:p.rows]
	start := time.Now()
	if err := p.floor.Delete(ctx, p.user, probeCollection, ids); err != nil {
		return 0, fmt.Errorf("floor probe: %w", err)
	}
	took := time.Since(start)
	p.live = slices.Delete(p.live, 0, p.rows)
	return took, nil
}

// newProbeRand is the prober's id source: the same ids for the same
// configuration.
func newProbeRand(rows, records int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(rows), uint64(records)))
}

// newID draws a record id as Firefox makes them: 12 characters of
// base64url.
func (p *prober) newID() string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	var b [12]byte
	for i := range b {
		b[i] = chars[p.r.IntN(len(chars))]
	}
	return string(b[:])
}
