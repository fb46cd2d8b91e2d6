// Command syncserver-benchlocal is syncserver bench with in-process
// servers: --local starts the native handler on SQLite and on MariaDB, an
// FSyncMS stand-in and the migration shim in front of another one, seeds
// them directly and benches them side by side (make bench). It is a
// separate program so that the syncserver binary links none of them: the
// stand-in is test code.
//
// Every flag of syncserver bench works here too; name=URL targets are
// benched before the --local ones.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/syncserver/syncserver/bench"
	"github.com/syncserver/syncserver/bench/local"
)

func main() {
	if err := command().ExecuteContext(context.Background()); err != nil {
		os.Exit(1)
	}
}

func command() *cobra.Command {
	o := bench.NewOptions()
	var kinds, cpuProfile string
	lo := local.Options{MySQLDSN: os.Getenv("SYNCSERVER_BENCH_MYSQL")}
	if lo.MySQLDSN == "" {
		lo.MySQLDSN = "root@tcp(127.0.0.1:3306)/"
	}
	cmd := &cobra.Command{
		Use:   "syncserver-benchlocal [flags] [name=URL ...]",
		Short: "syncserver bench against servers it starts in this process",
		Long: `
Starts the --local servers in this process on loopback, seeds them
directly and benches them one at a time, each step interleaved across
them in --slice slices, as syncserver bench does running servers
(bench/README.md):

  sqlite   the native handler on SQLite in a temporary directory
  mysql    the native handler on a fresh bch_<random> MariaDB database
  shim     Caddy with firefox_sync on SQLite proxying every user to its
           own FSyncMS stand-in
  legacy   that FSyncMS stand-in alone, on a fresh bch_<random> database

Example (what make bench runs):
  syncserver-benchlocal --local sqlite,mysql,shim,legacy \
      --compare sqlite/legacy,mysql/legacy,mysql/sqlite,shim/legacy --write-summary sqlite/legacy,mysql/legacy`,
		Args:          cobra.ArbitraryArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []string
			for _, k := range strings.Split(kinds, ",") {
				if k = strings.TrimSpace(k); k != "" {
					list = append(list, k)
				}
			}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "syncserver-benchlocal:", err)
				return err
			}
			err = o.Run(cmd.Context(), args, local.Starter(list, lo))
			stop()
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "syncserver-benchlocal:", err)
			}
			return err
		},
	}
	f := cmd.Flags()
	o.Bind(f)
	f.StringVar(&kinds, "local", "", "start in-process servers of these kinds, benched in this order: sqlite, mysql (native), shim (Caddy proxying to an FSyncMS stand-in), legacy (the stand-in alone)")
	f.StringVar(&lo.MySQLDSN, "mysql-dsn", lo.MySQLDSN, "MariaDB/MySQL server (no database name) where --local mysql, legacy and shim create their bch_<random> databases (env SYNCSERVER_BENCH_MYSQL); "+
		"unlike --dsn, which names the existing database of --direct NAME")
	f.BoolVar(&lo.Keep, "keep", false, "keep the databases --local created")
	f.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (in-process servers and load generator alike) to this file; "+
		"go tool pprof -focus httpapi shows the servers' share")
	cmd.AddCommand(floorProbeCommand(&lo))
	return cmd
}

// floorProbeCommand is the floor-probe subcommand (bench/local
// FloorProbe); bench/floor-under-load.sh runs it beside a bench.
func floorProbeCommand(lo *local.Options) *cobra.Command {
	pc := local.ProbeConfig{Kind: local.MySQL, Rate: 20, Duration: 12 * time.Second, Rows: 100, Records: 1000}
	cmd := &cobra.Command{
		Use:   "floor-probe [flags]",
		Short: "time the database's bare writes on a store of its own, to run beside a bench",
		Long: `
Opens a store of --kind on a fresh database (a bch_<random> MariaDB
database, or SQLite in a temporary directory), fills one collection with
--records records, then --rate times a second inserts --rows new records
in one transaction and deletes the --rows oldest in another: the bare
prepared statements of the store benchmarks' floor (make writebench), with
none of the store's own work. It prints the latency of both.

Run beside syncserver-benchlocal --local <kind> (another process, the same
machine), it shows what the database itself needs under the bench's load,
and so how far the server's POST and DELETE latency could ever go below
it: bench/floor-under-load.sh does that for one step. The probe's store
takes no lock of the server's (on SQLite its own file), so what it
measures is a lower bound.

Example:
  syncserver-benchlocal floor-probe --kind sqlite --rate 20 --duration 12s`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := local.FloorProbe(cmd.Context(), pc, *lo)
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "syncserver-benchlocal floor-probe:", err)
				return err
			}
			out := cmd.OutOrStdout()
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			for _, l := range []struct {
				name string
				lat  local.Latency
			}{{"INSERT", res.Insert}, {"DELETE", res.Delete}} {
				fmt.Fprintf(out, "floor %s %d rows (%s): n=%d p50=%.2f p95=%.2f p99=%.2f ms\n",
					l.name, pc.Rows, pc.Kind, l.lat.N, ms(l.lat.P50), ms(l.lat.P95), ms(l.lat.P99))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pc.Kind, "kind", pc.Kind, "the store: sqlite or mysql")
	f.Float64Var(&pc.Rate, "rate", pc.Rate, "insert and delete pairs started per second")
	f.DurationVar(&pc.Duration, "duration", pc.Duration, "how long to probe")
	f.IntVar(&pc.Rows, "rows", pc.Rows, "records per statement")
	f.IntVar(&pc.Records, "records", pc.Records, "records in the probed collection")
	f.StringVar(&lo.MySQLDSN, "mysql-dsn", lo.MySQLDSN, "MariaDB/MySQL server (no database name) where --kind mysql creates its bch_<random> database (env SYNCSERVER_BENCH_MYSQL)")
	return cmd
}

// startCPUProfile profiles this process, servers and load generator
// together, into path until the returned function is called; "" profiles
// nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting CPU profile %q: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
