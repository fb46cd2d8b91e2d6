package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/syncserver/syncserver/syncstore"
	"github.com/syncserver/syncserver/syncstore/storeopen"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "bench",
		Usage: "[flags] [name=URL ...] | compare a.json [b.json]",
		Short: "Load-tests Sync servers side by side and writes an HTML report",
		Long: `
Replays Firefox Sync 1.1 client sessions against one or more servers, one
at a time, checks every answer, and writes results.json and a
self-contained report.html (plots included) to --out. Each load step runs
against every target before the next, cut into --slice slices that go
round the targets, so every target is measured over the same stretch of
time.

Targets are name=URL pairs of servers on this machine; other addresses are
refused unless --allow-remote. Legacy targets (--legacy-targets) may show
the quirks docs/legacy.md documents; they are counted as information, not
errors. In-process servers (native stores, an FSyncMS stand-in, the shim)
are started by a separate program, syncserver-benchlocal, which takes the
same flags plus --local; make bench runs it.

The workload, the checks and the report are described in bench/README.md.

Examples:
  # two running servers, seeded through the HTTP API
  syncserver bench sqlite=http://127.0.0.1:5000/ mysql=http://127.0.0.1:5001/

  # seed the first straight into its database (the server's own flags)
  syncserver bench --direct sqlite --data /var/lib/syncserver sqlite=http://127.0.0.1:5000/

  # and sample the server process (Caddy's admin endpoint) into the report
  syncserver bench --sample sqlite=http://127.0.0.1:2019/metrics sqlite=http://127.0.0.1:5000/

  # a fixed rate of 20 and 40 sessions/s, plus the growth scenario
  syncserver bench --rate 20,40 --growth sqlite=http://127.0.0.1:5000/

  # compare two runs, or two targets of one run
  syncserver bench compare old/results.json new/results.json
  syncserver bench compare bench-out/results.json --base sqlite --other mysql
`,
		CobraFunc: func(cmd *cobra.Command) {
			o := NewOptions()
			o.Bind(cmd.Flags())
			cmd.Args = cobra.ArbitraryArgs
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				return o.Run(cmd.Context(), args, nil)
			}
			cmd.AddCommand(compareCommand())
		},
	})
}

// Options are the command line of syncserver bench, which
// syncserver-benchlocal shares.
type Options struct {
	cfg          Config
	concurrency  string
	rates        string
	legacy       string
	compare      string
	writeSummary string
	direct       []string
	samples      []string
	growth       bool
	growthSizes  string
	growth1M     bool
	out          string
	quiet        bool
	failOnErrors bool
	pairs        []Pair
	writePairs   []Pair
	// flags holds --db, --data, --dsn and --create, read by --direct.
	flags *pflag.FlagSet
	// getenv reads storeopen.DSNEnv (os.Getenv; tests pass their own).
	getenv func(string) string
}

// NewOptions holds the defaults of the flags.
func NewOptions() *Options {
	return &Options{cfg: DefaultConfig(), concurrency: "1,5,10,25,50", growthSizes: "10000,100000", out: "bench-out", failOnErrors: true, getenv: os.Getenv}
}

// Bind adds the flags to f.
func (o *Options) Bind(f *pflag.FlagSet) {
	c := &o.cfg
	f.StringVar(&o.legacy, "legacy-targets", "", "names of name=URL targets that are legacy PHP servers or shims in front of one: their documented quirks are info, not errors")
	f.StringVar(&o.compare, "compare", "", "ratio tables to print, as other/base target pairs (e.g. mysql/sqlite,shim/legacy); default: every target against the first")
	f.StringVar(&o.writeSummary, "write-summary", "", "print the POST and DELETE rows of these ratio tables (other/base pairs, e.g. sqlite/legacy) first, on the terminal and at the top of the report")
	f.StringArrayVar(&o.samples, "sample", nil, "sample the server process of target NAME from its Prometheus metrics: NAME=URL, e.g. NAME=http://127.0.0.1:2019/metrics (Caddy's admin endpoint); RSS, goroutines and open files go into the report (repeatable)")
	f.DurationVar(&c.SampleInterval, "sample-interval", c.SampleInterval, "time between two --sample readings")
	f.StringArrayVar(&o.direct, "direct", nil, "seed target NAME straight into its database: the one --db, --data and --dsn describe, as for the server's other commands; "+
		"or, to seed several, NAME=sqlite:DIR or NAME=mysql:DSN (repeatable)")
	storeopen.AddFlags(f)
	o.flags = f
	f.IntVar(&c.Users, "users", c.Users, "accounts the workload drives")
	f.IntVar(&c.RecordsPerUser, "records", c.RecordsPerUser, "records per account")
	f.IntVar(&c.Devices, "devices", c.Devices, "Sync clients per account")
	f.StringVar(&c.UserPrefix, "user-prefix", c.UserPrefix, "accounts are <prefix>-u<i>@bench.invalid")
	f.Uint64Var(&c.Seed, "seed", c.Seed, "workload generator seed (same seed, same sessions)")
	f.StringVar(&o.concurrency, "concurrency", o.concurrency, "closed-loop steps: concurrent clients")
	f.StringVar(&o.rates, "rate", "", "open-loop steps instead: sessions per second (e.g. 10,20,40)")
	f.IntVar(&c.MaxInflight, "max-inflight", c.MaxInflight, "fixed rate: sessions in flight before new ones are dropped")
	f.DurationVar(&c.StepDuration, "duration", c.StepDuration, "length of each step")
	f.Int64Var(&c.MaxRequests, "max-requests", c.MaxRequests, "requests per step at most")
	f.DurationVar(&c.Slice, "slice", c.Slice, "cut every step into slices this long that go round the targets, so all are measured over the same stretch of time (0: each step in one piece, every target's before the next step)")
	f.DurationVar(&c.Warmup, "warmup", c.Warmup, "unrecorded load before the first step")
	f.BoolVar(&o.growth, "growth", false, "run the growth scenario first")
	f.StringVar(&o.growthSizes, "growth-sizes", o.growthSizes, "growth: records on the node at each step")
	f.BoolVar(&o.growth1M, "growth-1m", false, "growth: add a step at 1,000,000 records")
	f.IntVar(&c.GrowthUsers, "growth-users", c.GrowthUsers, "growth: accounts the workload drives")
	f.IntVar(&c.GrowthRecords, "growth-records", c.GrowthRecords, "growth: records per driven account")
	f.IntVar(&c.GrowthConcurrency, "growth-concurrency", c.GrowthConcurrency, "growth: concurrent clients")
	f.DurationVar(&c.GrowthDuration, "growth-duration", c.GrowthDuration, "growth: length of each step")
	f.DurationVar(&c.Timeout, "timeout", c.Timeout, "per request")
	f.IntVar(&c.SeedConcurrency, "seed-concurrency", c.SeedConcurrency, "accounts seeded at once")
	f.IntVar(&c.BcryptCost, "bcrypt-cost", c.BcryptCost, "password hash cost of directly seeded accounts (and of in-process servers)")
	f.BoolVar(&c.AllowRemote, "allow-remote", false, "allow targets that are not on this machine")
	f.StringVar(&o.out, "out", o.out, "directory for results.json and report.html")
	f.BoolVar(&o.quiet, "quiet", false, "no progress lines")
	f.BoolVar(&o.failOnErrors, "fail-on-errors", true, "exit with status 1 when any answer was wrong")
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := parse(f)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", f, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// A Starter starts servers for a run (syncserver-benchlocal's
// in-process ones): it adds their targets to cfg.Targets, after those of
// the command line, and their seeders to cfg.Seeders or cfg.Stores. cfg's
// logger and bcrypt cost are set. It returns what stops them.
type Starter func(ctx context.Context, cfg *Config) (stop func() error, err error)

// Run benches the targets of args (name=URL) and those start adds (nil:
// none), then writes results.json and report.html and prints the ratio
// tables.
func (o *Options) Run(ctx context.Context, args []string, start Starter) (err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	logger := caddy.Log().Named("bench")
	cfg := o.cfg
	cfg.Logger = logger
	if !o.quiet {
		cfg.Progress = os.Stderr
	}
	if cfg.Rates, err = parseList(o.rates, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }); err != nil {
		return fmt.Errorf("--rate: %w", err)
	}
	if len(cfg.Rates) == 0 {
		if cfg.Concurrency, err = parseList(o.concurrency, strconv.Atoi); err != nil {
			return fmt.Errorf("--concurrency: %w", err)
		}
	} else {
		cfg.Concurrency = nil
	}
	if o.growth || o.growth1M {
		if cfg.GrowthSizes, err = parseList(o.growthSizes, strconv.Atoi); err != nil {
			return fmt.Errorf("--growth-sizes: %w", err)
		}
		if o.growth1M {
			cfg.GrowthSizes = append(cfg.GrowthSizes, 1_000_000)
		}
	}
	legacy, _ := parseList(o.legacy, func(s string) (string, error) { return s, nil })
	for _, a := range args {
		t, err := ParseTarget(a)
		if err != nil {
			return err
		}
		t.Legacy = slices.Contains(legacy, t.Name)
		cfg.Targets = append(cfg.Targets, t)
	}
	pairs, err := parseList(o.compare, ParsePair)
	if err != nil {
		return fmt.Errorf("--compare: %w", err)
	}
	writePairs, err := parseList(o.writeSummary, ParsePair)
	if err != nil {
		return fmt.Errorf("--write-summary: %w", err)
	}
	cfg.Stores = map[string]syncstore.Store{}
	cfg.Seeders = map[string]Seeder{}
	cfg.Samples = map[string]*url.URL{}
	for _, spec := range o.samples {
		name, u, err := ParseSampleSpec(spec)
		if err != nil {
			return err
		}
		cfg.Samples[name] = u
	}
	if start != nil {
		stop, err := start(ctx, &cfg)
		if stop != nil {
			defer func() { err = errors.Join(err, stop()) }()
		}
		if err != nil {
			return err
		}
	}
	if err := o.checkDirect(); err != nil {
		return err
	}
	for _, d := range o.direct {
		name, st, err := o.openDirect(ctx, d, os.Stderr)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, st.Close()) }()
		cfg.Stores[name] = st
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	for flag, ps := range map[string][]Pair{"--compare": pairs, "--write-summary": writePairs} {
		for _, p := range ps {
			for _, name := range []string{p.Base, p.Other} {
				if !slices.ContainsFunc(cfg.Targets, func(t Target) bool { return t.Name == name }) {
					return fmt.Errorf("%s %s/%s: no target %q", flag, p.Other, p.Base, name)
				}
			}
		}
	}
	o.pairs, o.writePairs = pairs, writePairs
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", o.out, err)
	}

	res, runErr := Run(ctx, cfg)
	if res == nil {
		return runErr
	}
	if err := o.write(res, os.Stdout); err != nil {
		return errors.Join(runErr, err)
	}
	if runErr != nil {
		return runErr
	}
	if n := wrongAnswers(res); n > 0 && o.failOnErrors {
		return fmt.Errorf("%d wrong answers (see the report); --fail-on-errors=false to accept them", n)
	}
	return nil
}

// write saves results.json and report.html and prints the write summary
// and the comparisons to w.
func (o *Options) write(res *Results, w io.Writer) error {
	jsonPath := filepath.Join(o.out, "results.json")
	htmlPath := filepath.Join(o.out, "report.html")
	if err := res.WriteFile(jsonPath); err != nil {
		return err
	}
	cmps := res.Comparisons()
	if len(o.pairs) > 0 {
		cmps = res.ComparePairs(o.pairs)
	}
	writes := WriteRows(res.ComparePairs(o.writePairs))
	if err := WriteReport(htmlPath, res, cmps, writes...); err != nil {
		return err
	}
	if len(writes) > 0 {
		fmt.Fprintln(w)
		if err := WriteWriteRows(w, writes); err != nil {
			return err
		}
	}
	for i := range cmps {
		fmt.Fprintln(w)
		if err := cmps[i].WriteText(w); err != nil {
			return err
		}
	}
	if len(cmps) == 0 {
		for _, t := range res.Targets {
			fmt.Fprintf(w, "\n%s\n", t.Name)
			for _, s := range t.Steps {
				fmt.Fprintf(w, "  %-10s %8.1f req/s %8.1f sessions/s  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  errors %d\n",
					s.Label, s.RequestsPerSec, s.SessionsPerSec, s.Latency.P50MS, s.Latency.P95MS, s.Latency.P99MS, s.Errors)
			}
		}
	}
	for _, t := range res.Targets {
		if r := t.Resources; r != nil {
			sm := r.Summaries()
			fmt.Fprintf(w, "\n%s server (%d samples, %d failed; first / max / last): RSS %.1f / %.1f / %.1f MiB, goroutines %d / %d / %d, open files %d / %d / %d\n",
				t.Name, len(r.Samples), r.Failed, mib(sm[0].First), mib(sm[0].Max), mib(sm[0].Last),
				sm[1].First, sm[1].Max, sm[1].Last, sm[2].First, sm[2].Max, sm[2].Last)
		}
	}
	fmt.Fprintf(w, "\nwrote %s and %s\n", jsonPath, htmlPath)
	return nil
}

func wrongAnswers(res *Results) int64 {
	var n int64
	for _, t := range res.Targets {
		for _, s := range append(t.Steps, t.Growth...) {
			n += s.Errors
		}
	}
	return n
}

// checkDirect refuses database flags that no --direct reads, and more
// than one --direct for the one database they describe.
func (o *Options) checkDirect() error {
	var fromFlags []string
	for _, d := range o.direct {
		if !strings.Contains(d, "=") {
			fromFlags = append(fromFlags, d)
		}
	}
	if len(fromFlags) > 1 {
		return fmt.Errorf("--direct %s: --db, --data and --dsn describe one database; name the others' inline (NAME=sqlite:DIR or NAME=mysql:DSN)",
			strings.Join(fromFlags, ", --direct "))
	}
	if len(fromFlags) == 0 && o.flags != nil {
		for _, name := range []string{"db", "data", "dsn"} {
			if o.flags.Changed(name) {
				return fmt.Errorf("--%s describes the database of --direct NAME, and no --direct names a target without =", name)
			}
		}
	}
	return nil
}

// openDirect opens the database behind a target through storeopen, as
// the server and its commands do: spec is NAME (the database --db,
// --data and --dsn describe) or NAME=sqlite:DIR / NAME=mysql:DSN. The
// database must exist (the server running the target made it) unless
// --create. Which one it opened goes to log.
func (o *Options) openDirect(ctx context.Context, spec string, log io.Writer) (string, syncstore.Store, error) {
	name, inline, hasInline := strings.Cut(spec, "=")
	if name == "" {
		return "", nil, fmt.Errorf("--direct %q: want NAME, NAME=sqlite:DIR or NAME=mysql:DSN", spec)
	}
	if !hasInline {
		if o.flags == nil {
			return "", nil, fmt.Errorf("--direct %s: no --db, --data or --dsn to describe its database", name)
		}
		st, _, err := storeopen.OpenFlags(ctx, o.flags, o.getenv, log)
		if err != nil {
			return "", nil, fmt.Errorf("--direct %s: %w", name, err)
		}
		return name, st, nil
	}
	driver, location, ok := strings.Cut(inline, ":")
	if !ok || location == "" {
		return "", nil, fmt.Errorf("--direct %q: want NAME=sqlite:DIR or NAME=mysql:DSN", spec)
	}
	c := storeopen.Config{Driver: driver}
	switch driver {
	case storeopen.DriverSQLite:
		c.Dir = location
	case storeopen.DriverMySQL:
		c.DSN = location
	default:
		return "", nil, fmt.Errorf("--direct %s: unknown driver %q (want sqlite or mysql)", name, driver)
	}
	if o.flags != nil {
		c.Create, _ = o.flags.GetBool("create")
	}
	st, err := storeopen.Open(ctx, c)
	if errors.Is(err, storeopen.ErrNoDatabase) {
		err = fmt.Errorf("%w (is it the database of the server behind %s? --create makes a new one)", err, name)
	}
	if err != nil {
		return "", nil, fmt.Errorf("--direct %s: %w", name, err)
	}
	fmt.Fprintf(log, "database of %s: %s\n", name, c.Label())
	return name, st, nil
}

func compareCommand() *cobra.Command {
	var base, other, report string
	cmd := &cobra.Command{
		Use:   "compare a.json [b.json]",
		Short: "Prints the ratio table of two targets or two runs",
		Long: `
With one results.json, compares its targets (--base, default the first,
against --other, default the second). With two, compares each target of
the first run with the target of the same name in the second (or --base
in the first with --other in the second). Ratios are other/base:
throughput above 1 and latency below 1 mean "other" is faster.
--report writes an HTML report of both runs with the comparison.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, cmps, err := compareFiles(args, base, other)
			if err != nil {
				return err
			}
			for i := range cmps {
				if i > 0 {
					fmt.Println()
				}
				if err := cmps[i].WriteText(os.Stdout); err != nil {
					return err
				}
			}
			if report != "" {
				return WriteReport(report, res, cmps)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&base, "base", "", "base target name")
	cmd.Flags().StringVar(&other, "other", "", "other target name")
	cmd.Flags().StringVar(&report, "report", "", "also write an HTML report to this file")
	return cmd
}

// compareFiles loads one or two results files and compares them; the
// returned Results holds every compared target (renamed run:target when
// two runs are compared) for a report.
func compareFiles(paths []string, base, other string) (*Results, []Comparison, error) {
	runs := make([]*Results, len(paths))
	for i, p := range paths {
		r, err := ReadResults(p)
		if err != nil {
			return nil, nil, err
		}
		runs[i] = r
	}
	pick := func(r *Results, name string, def int) (*TargetResult, error) {
		if name == "" {
			if def >= len(r.Targets) {
				return nil, fmt.Errorf("the run has %d targets; name them with --base and --other", len(r.Targets))
			}
			return &r.Targets[def], nil
		}
		t, ok := r.Target(name)
		if !ok {
			return nil, fmt.Errorf("no target %q in the run", name)
		}
		return t, nil
	}
	if len(runs) == 1 {
		b, err := pick(runs[0], base, 0)
		if err != nil {
			return nil, nil, err
		}
		o, err := pick(runs[0], other, 1)
		if err != nil {
			return nil, nil, err
		}
		res := *runs[0]
		res.Targets = []TargetResult{*b, *o}
		return &res, []Comparison{Compare(b, o, b.Name, o.Name)}, nil
	}
	la, lb := runLabel(paths[0], "a"), runLabel(paths[1], "b")
	if la == lb {
		la, lb = "a", "b"
	}
	res := *runs[1]
	res.Targets = nil
	var cmps []Comparison
	add := func(b, o *TargetResult) {
		bt, ot := *b, *o
		bt.Name, ot.Name = la+":"+b.Name, lb+":"+o.Name
		res.Targets = append(res.Targets, bt, ot)
		cmps = append(cmps, Compare(&bt, &ot, bt.Name, ot.Name))
	}
	if base != "" || other != "" {
		b, err := pick(runs[0], base, 0)
		if err != nil {
			return nil, nil, err
		}
		o, err := pick(runs[1], cmp(other, b.Name), 0)
		if err != nil {
			return nil, nil, err
		}
		add(b, o)
		return &res, cmps, nil
	}
	for i := range runs[0].Targets {
		if o, ok := runs[1].Target(runs[0].Targets[i].Name); ok {
			add(&runs[0].Targets[i], o)
		}
	}
	if len(cmps) == 0 {
		return nil, nil, errors.New("the two runs have no target name in common; name them with --base and --other")
	}
	return &res, cmps, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runLabel names a run after its directory (bench-out/results.json →
// bench-out) or its file name.
func runLabel(path, def string) string {
	stem := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if stem == "results" {
		if dir := filepath.Base(filepath.Dir(path)); dir != "." && dir != "/" {
			return dir
		}
	}
	if stem == "" {
		return def
	}
	return stem
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
