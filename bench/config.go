package bench

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/syncserver/syncserver/syncstore"
)

// Config is one bench run. DefaultConfig holds the documented defaults.
type Config struct {
	Targets []Target
	// Stores gives, per target name, the native store behind that target
	// for the direct seeding path; targets without one are seeded over HTTP.
	Stores map[string]syncstore.Store
	// Seeders seed other targets their own way (the legacy stand-ins of
	// syncserver-benchlocal, in their FSyncMS database); they take
	// precedence over Stores.
	Seeders map[string]Seeder

	Users          int    // accounts the workload drives
	RecordsPerUser int    // records per account in the bench collections
	Devices        int    // Sync clients per account (each has its own lastSync)
	UserPrefix     string // accounts are <prefix>-<role><i>@bench.invalid
	Seed           uint64 // workload generator seed

	// Load shape: closed-loop Concurrency steps, or Rates (sessions per
	// second, open loop) when set. Every step is bounded by StepDuration
	// and MaxRequests.
	Concurrency  []int
	Rates        []float64
	MaxInflight  int // rate steps: sessions in flight before new ones are dropped
	StepDuration time.Duration
	MaxRequests  int64
	Warmup       time.Duration // unrecorded load before the first step
	// Slice cuts every step into slices of at most this long that go
	// round the targets (runInterleaved), so all targets are measured
	// over the same stretch of time; 0 runs each step in one piece,
	// still every target's before the next step.
	Slice time.Duration

	// Growth scenario (off when GrowthSizes is empty): the mix at
	// GrowthConcurrency on GrowthUsers accounts of GrowthRecords records,
	// with ballast accounts filling the node to each size in turn.
	GrowthSizes       []int
	GrowthUsers       int
	GrowthRecords     int
	GrowthConcurrency int
	GrowthDuration    time.Duration

	Timeout         time.Duration // per request
	SeedConcurrency int
	BcryptCost      int // password hashes of directly seeded accounts
	AllowRemote     bool
	Mix             Mix

	// Samples gives, per target name, the Prometheus metrics endpoint of
	// the server process behind it (Caddy's admin /metrics), read every
	// SampleInterval while the target runs: RSS, goroutines, open files.
	Samples        map[string]*url.URL
	SampleInterval time.Duration

	Progress io.Writer // progress lines; nil for none
	Logger   *zap.Logger
}

// DefaultConfig is the default: 100 users × 6,000 records, steps
// of 1, 5, 10, 25 and 50 concurrent clients.
func DefaultConfig() Config {
	return Config{
		Users:             100,
		RecordsPerUser:    6000,
		Devices:           2,
		UserPrefix:        "bench",
		Seed:              1,
		Concurrency:       []int{1, 5, 10, 25, 50},
		MaxInflight:       256,
		StepDuration:      30 * time.Second,
		MaxRequests:       200_000,
		Warmup:            3 * time.Second,
		Slice:             5 * time.Second,
		GrowthUsers:       10,
		GrowthRecords:     500,
		GrowthConcurrency: 10,
		GrowthDuration:    20 * time.Second,
		SampleInterval:    5 * time.Second,
		Timeout:           30 * time.Second,
		SeedConcurrency:   4,
		BcryptCost:        10,
		Mix:               DefaultMix(),
	}
}

// Validate checks the bounds that keep a run finite and meaningful.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no target: give name=URL arguments"))
	}
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("target name %q used twice", t.Name))
		}
		seen[t.Name] = true
	}
	if c.Users < 1 || c.RecordsPerUser < 0 || c.Devices < 1 {
		errs = append(errs, errors.New("need at least 1 user and 1 device, and no negative record count"))
	}
	if !validName(c.UserPrefix) {
		errs = append(errs, fmt.Errorf("user prefix %q: use a-z, 0-9, '-' and '_'", c.UserPrefix))
	}
	if len(c.Concurrency) == 0 && len(c.Rates) == 0 {
		errs = append(errs, errors.New("no load steps: give --concurrency or --rate"))
	}
	if len(c.Concurrency) > 0 && len(c.Rates) > 0 {
		errs = append(errs, errors.New("give concurrency steps or rates, not both"))
	}
	if slices.ContainsFunc(c.Concurrency, func(n int) bool { return n < 1 }) {
		errs = append(errs, errors.New("concurrency steps must be ≥ 1"))
	}
	if slices.ContainsFunc(c.Rates, func(r float64) bool { return r <= 0 }) {
		errs = append(errs, errors.New("rates must be > 0 sessions/s"))
	}
	if len(c.Rates) > 0 && c.MaxInflight < 1 {
		errs = append(errs, errors.New("max in-flight sessions must be ≥ 1"))
	}
	if c.StepDuration <= 0 || c.MaxRequests <= 0 {
		errs = append(errs, errors.New("every step needs a duration and a request limit > 0"))
	}
	if c.Slice < 0 {
		errs = append(errs, errors.New("the slice length must be ≥ 0 (0: steps in one piece)"))
	}
	if c.Warmup < 0 || c.Timeout <= 0 {
		errs = append(errs, errors.New("warm-up must be ≥ 0 and the request timeout > 0"))
	}
	if len(c.GrowthSizes) > 0 {
		if c.GrowthUsers < 1 || c.GrowthRecords < 0 || c.GrowthConcurrency < 1 || c.GrowthDuration <= 0 {
			errs = append(errs, errors.New("growth needs ≥ 1 user, ≥ 1 client and a duration"))
		}
		if slices.ContainsFunc(c.GrowthSizes, func(n int) bool { return n <= 0 }) {
			errs = append(errs, errors.New("growth sizes must be > 0 records"))
		}
	}
	for name := range c.Samples {
		if !seen[name] {
			errs = append(errs, fmt.Errorf("resources sampled for %q, which is no target", name))
		}
	}
	if len(c.Samples) > 0 && c.SampleInterval <= 0 {
		errs = append(errs, errors.New("the sample interval must be > 0"))
	}
	if c.SeedConcurrency < 1 {
		errs = append(errs, errors.New("seed concurrency must be ≥ 1"))
	}
	if err := c.Mix.validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// steps lists the load steps, unmeasured: the concurrency steps or the
// rates.
func (c *Config) steps() []StepResult {
	steps := make([]StepResult, 0, len(c.Concurrency)+len(c.Rates))
	for _, n := range c.Concurrency {
		steps = append(steps, StepResult{Label: "c=" + strconv.Itoa(n), Concurrency: n})
	}
	for _, r := range c.Rates {
		steps = append(steps, StepResult{Label: "rate=" + strconv.FormatFloat(r, 'f', -1, 64) + "/s", Rate: r})
	}
	return steps
}

// maxConns is the most connections a run opens to one target.
func (c *Config) maxConns() int {
	n := max(c.SeedConcurrency, c.GrowthConcurrency)
	for _, x := range c.Concurrency {
		n = max(n, x)
	}
	if len(c.Rates) > 0 {
		n = max(n, c.MaxInflight)
	}
	return n
}

func (c *Config) settings() Settings {
	return Settings{
		Users:          c.Users,
		RecordsPerUser: c.RecordsPerUser,
		Devices:        c.Devices,
		StepDuration:   c.StepDuration,
		Slice:          c.Slice,
		MaxRequests:    c.MaxRequests,
		Concurrency:    c.Concurrency,
		Rates:          c.Rates,
		GrowthSizes:    c.GrowthSizes,
		Mix:            c.Mix,
	}
}
