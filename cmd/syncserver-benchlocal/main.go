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
