package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Run benches every target and returns the results, partial ones with
// the error when a target fails. Each target is seeded (and runs the
// growth scenario) in turn; then every load step runs against every
// target before the next step starts, cut into slices of cfg.Slice that
// go round the targets (interleave.go), so the targets share whatever
// else the machine is doing and their ratios compare like with like. One
// target runs at a time: they never compete with each other.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if !cfg.AllowRemote {
		for _, t := range cfg.Targets {
			if err := checkLoopback(ctx, t); err != nil {
				return nil, err
			}
		}
	}
	res := &Results{Version: ResultsVersion, Started: time.Now().UTC(), Seed: cfg.Seed, Settings: cfg.settings()}
	runs := make([]*targetRun, 0, len(cfg.Targets))
	// finish stops every started target's client and sampler and copies
	// what each measured into res.
	finish := func(err error) (*Results, error) {
		for _, run := range runs {
			run.close()
			res.Targets = append(res.Targets, *run.result)
		}
		res.Finished = time.Now().UTC()
		return res, err
	}
	for _, t := range cfg.Targets {
		run := newTargetRun(ctx, &cfg, t)
		runs = append(runs, run)
		if err := run.prepare(ctx); err != nil {
			return finish(fmt.Errorf("target %s: %w", t.Name, err))
		}
	}
	for _, run := range runs {
		if err := run.warmUp(ctx); err != nil {
			return finish(fmt.Errorf("target %s: %w", run.target.Name, err))
		}
	}
	for i, step := range cfg.steps() {
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		runInterleaved(ctx, runs, step, i, cfg.StepDuration, cfg.Slice)
	}
	return finish(ctx.Err())
}

// targetRun is the state of one target's run.
type targetRun struct {
	cfg      *Config
	target   Target
	client   *syncClient
	seeder   Seeder
	mix      *Mix
	devices  int
	progress *progress
	log      *zap.Logger
	result   *TargetResult
	// pop is the population the load steps drive; active the time the
	// target has spent in load steps so far (its steps' timelines are
	// laid end to end on it).
	pop    *population
	active time.Duration
	close  func()

	nodeRecords int64        // records seeded on the target so far
	created     atomic.Int64 // new records the workload uploaded so far
	removed     atomic.Int64 // records the workload deleted so far
}

// records is about how many records the target holds: what was seeded
// plus what the workload created minus what it deleted.
func (t *targetRun) records() int64 {
	return t.nodeRecords + t.created.Load() - t.removed.Load()
}

// Phases of a target's run, part of each generator's stream id so every
// phase and step draws its own reproducible sequence.
const (
	phaseWarmup = iota + 1
	phaseSteps
	phaseGrowth
)

// newTargetRun sets up the client, seeder and sampler of one target;
// close stops them.
func newTargetRun(ctx context.Context, cfg *Config, t Target) *targetRun {
	hc := newHTTPClient(cfg.maxConns(), cfg.Timeout, cfg.AllowRemote)
	run := &targetRun{
		cfg:      cfg,
		target:   t,
		client:   &syncClient{hc: hc, root: t.URL.String(), ua: userAgentWorkload},
		mix:      &cfg.Mix,
		devices:  cfg.Devices,
		progress: newProgress(cfg.Progress),
		log:      cfg.Logger.With(zap.String("target", t.Name)),
	}
	run.seeder = &httpSeeder{client: &syncClient{hc: hc, root: t.URL.String(), ua: userAgentSeed}, legacy: t.Legacy}
	if s := cfg.Stores[t.Name]; s != nil {
		run.seeder = StoreSeeder(s, cfg.BcryptCost)
	}
	if s := cfg.Seeders[t.Name]; s != nil {
		run.seeder = s
	}
	tr := &TargetResult{Name: t.Name, URL: t.URL.String(), Legacy: t.Legacy, Seed: SeedResult{Method: run.seeder.Method()}}
	run.result = tr
	run.close = hc.CloseIdleConnections
	if u := cfg.Samples[t.Name]; u != nil {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan Resources, 1)
		s := newSampler(u, cfg.SampleInterval, cfg.AllowRemote, run.log)
		go func() { done <- s.run(sctx) }()
		run.close = func() {
			stop()
			r := <-done
			tr.Resources = &r
			hc.CloseIdleConnections()
		}
	}
	return run
}

// prepare runs the growth scenario, when asked, and seeds the accounts
// the load steps drive.
func (t *targetRun) prepare(ctx context.Context) error {
	// The growth scenario goes first: it needs a node that is still small.
	if len(t.cfg.GrowthSizes) > 0 {
		if err := t.growth(ctx, t.result); err != nil {
			return err
		}
	}
	pop, err := t.seed(ctx, t.result, roleMain, t.cfg.Users, t.cfg.RecordsPerUser)
	if err != nil {
		return err
	}
	t.pop = pop
	return nil
}

// warmUp runs the unrecorded load that precedes the first step.
func (t *targetRun) warmUp(ctx context.Context) error {
	cfg := t.cfg
	if cfg.Warmup <= 0 {
		return nil
	}
	first := StepResult{Label: "warm-up"}
	if len(cfg.Concurrency) > 0 {
		first.Concurrency = cfg.Concurrency[0]
	} else {
		first.Rate = cfg.Rates[0]
	}
	t.step(ctx, t.pop, &first, phaseWarmup, 0, time.Now(), cfg.Warmup)
	t.log.Info("warm-up done", zap.Int64("requests", first.Requests), zap.Int64("errors", first.Errors))
	return ctx.Err()
}

// seed creates n accounts of a role with records each and returns them as
// a population.
func (t *targetRun) seed(ctx context.Context, tr *TargetResult, role string, n, records int) (*population, error) {
	users := make([]*Account, n)
	for i := range users {
		users[i] = &Account{id: newIdentity(t.cfg.UserPrefix, role, i), layout: seedLayout(records), devices: t.devices}
	}
	if err := t.seedUsers(ctx, tr, users, role); err != nil {
		return nil, err
	}
	pop := &population{users: make([]*userState, n)}
	for i, d := range users {
		pop.users[i] = newUserState(d.id, d.layout, t.devices)
	}
	return pop, nil
}

func (t *targetRun) seedUsers(ctx context.Context, tr *TargetResult, users []*Account, role string) error {
	start := time.Now()
	var done atomic.Int64
	desc := fmt.Sprintf("%s: seeding (%s) ", t.target.Name, t.seeder.Method())
	stop := t.progress.trackCount(desc, "accounts", len(users), done.Load, func(elapsed time.Duration) string {
		return fmt.Sprintf("%s: seeding (%s) %d/%d accounts, %.0fs", t.target.Name, t.seeder.Method(), done.Load(), len(users), elapsed.Seconds())
	})
	reused, err := seedAll(ctx, t.seeder, users, t.cfg.SeedConcurrency, &done)
	stop()
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	var records int64
	for _, d := range users {
		records += d.records()
	}
	t.nodeRecords += records
	tr.Seed.Users += len(users)
	tr.Seed.Records += records
	tr.Seed.Reused += reused
	tr.Seed.Duration += time.Since(start).Seconds()
	t.log.Info("seeded", zap.String("role", role), zap.Int("accounts", len(users)), zap.Int("reused", reused),
		zap.Int64("records", records), zap.Duration("took", time.Since(start)))
	return nil
}

// growth runs the mix on a fixed set of accounts while ballast accounts
// fill the node to each size: whether a request's cost grows with the
// amount of data the server holds.
func (t *targetRun) growth(ctx context.Context, tr *TargetResult) error {
	cfg := t.cfg
	pop, err := t.seed(ctx, tr, roleGrowth, cfg.GrowthUsers, cfg.GrowthRecords)
	if err != nil {
		return err
	}
	origin := time.Now()
	ballast := 0
	for i, size := range slices.Sorted(slices.Values(cfg.GrowthSizes)) {
		var add []*Account
		for need := int64(size) - t.records(); need > 0; need -= int64(cfg.RecordsPerUser) {
			n := int(min(need, int64(max(cfg.RecordsPerUser, 1))))
			add = append(add, &Account{id: newIdentity(cfg.UserPrefix, roleBallast, ballast), layout: seedLayout(n), devices: t.devices})
			ballast++
		}
		if err := t.seedUsers(ctx, tr, add, roleBallast); err != nil {
			return err
		}
		step := StepResult{Label: "size=" + strconv.Itoa(size), Concurrency: cfg.GrowthConcurrency}
		t.step(ctx, pop, &step, phaseGrowth, i, origin, cfg.GrowthDuration)
		tr.Growth = append(tr.Growth, step)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// rng is the generator of one worker (or, at a fixed rate, one session)
// in one slice of a step: the same for every target, so all targets get
// the same workload.
func (t *targetRun) rng(phase, step, slice, n int) *rand.Rand {
	return rand.New(rand.NewPCG(t.cfg.Seed, uint64(phase)<<56|uint64(step)<<40|uint64(slice)<<32|uint64(n)))
}

// step runs one load level in one piece and fills the measured fields of
// s (the warm-up and the growth steps, which are not interleaved).
func (t *targetRun) step(ctx context.Context, pop *population, s *StepResult, phase, index int, origin time.Time, dur time.Duration) {
	start := time.Now()
	rec := newRecorder(origin, start)
	s.NodeRecords = t.records()
	elapsed := t.slice(ctx, pop, rec, s, s.Label, phase, index, 0, dur)
	rec.result(s, elapsed)
}

// slice runs load level s for dur (label names it in progress lines), recording into rec, and returns how
// long it took to its last answer. Slice n of a step draws its own
// sessions; slice 0 draws those a step in one piece would.
func (t *targetRun) slice(ctx context.Context, pop *population, rec *recorder, s *StepResult, label string, phase, index, n int, dur time.Duration) time.Duration {
	start := time.Now()
	rec.resume(start)
	budget := t.cfg.MaxRequests - rec.snapshot().requests
	ctl := newStepControl(rec, start.Add(dur), budget)
	stop := t.progress.trackStep(t.target.Name, label, rec, start)
	var wg sync.WaitGroup
	if s.Rate > 0 {
		t.openLoop(ctx, pop, ctl, s.Rate, phase, index, n, &wg)
	} else {
		for i := range s.Concurrency {
			wg.Go(func() {
				w := newWorker(t, ctl, t.rng(phase, index, n, i))
				for !ctl.over() && ctx.Err() == nil {
					rec.session(w.session(ctx, pop))
				}
			})
		}
	}
	wg.Wait()
	stop()
	elapsed := time.Since(start)
	rec.pause(elapsed)
	return elapsed
}

// openLoop starts sessions at a fixed rate whatever the server's speed,
// up to MaxInflight at once; sessions beyond that are counted as dropped.
func (t *targetRun) openLoop(ctx context.Context, pop *population, ctl *stepControl, rate float64, phase, index, slice int, wg *sync.WaitGroup) {
	interval := time.Duration(float64(time.Second) / rate)
	slots := make(chan struct{}, t.cfg.MaxInflight)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; !ctl.over(); n++ {
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		select {
		case slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-slots }()
				w := newWorker(t, ctl, t.rng(phase, index, slice, n))
				ctl.rec.session(w.session(ctx, pop))
			})
		default:
			ctl.rec.drop()
		}
		next = next.Add(interval)
	}
}
