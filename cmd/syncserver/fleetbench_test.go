//go:build fleet

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/syncserver/syncserver/bench"
	"github.com/syncserver/syncserver/syncstore/storetest/testservices"
)

// FleetBenchEnv turns TestFleetBench on; bench/fleet.sh sets it.
const fleetBenchEnv = "FLEET_BENCH"

// TestFleetBench is a measurement, not a check: `syncserver bench`
// through a load balancer over 1, 2 and 3 of the fleet's instances, one
// after the other over the same shards, memcached and accounts, with the
// CPU time every process of the fleet spent in each run and a CPU profile
// of one instance during the 3-instance run. It runs only with
// FLEET_BENCH=1 (bench/fleet.sh); FLEET_BENCH_ARGS adds bench flags.
func TestFleetBench(t *testing.T) {
	if os.Getenv(fleetBenchEnv) == "" {
		t.Skip("a measurement: FLEET_BENCH=1 (bash bench/fleet.sh) runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	f := startFleet(t, ctx)
	out := os.Getenv("FLEET_BENCH_OUT")
	if out == "" {
		out = t.TempDir()
	}
	args := []string{"--users", "20", "--records", "500", "--concurrency", "4,16", "--duration", "15s", "--warmup", "3s", "--quiet"}
	args = append(args, strings.Fields(os.Getenv("FLEET_BENCH_ARGS"))...)

	// One balancer per fleet size, in front of the first n instances.
	var report strings.Builder
	fmt.Fprintf(&report, "syncserver bench %s through Caddy's reverse_proxy (round_robin) over n instances; shards s1, s2 on two mariadbd; one memcached\n", strings.Join(args, " "))
	for n := 1; n <= len(f.instances); n++ {
		port := testservices.ReservePort(t)
		var upstreams []string
		for _, in := range f.instances[:n] {
			upstreams = append(upstreams, strings.TrimPrefix(in.base, "http://"))
		}
		lb := startSyncserver(t, ctx, fmt.Sprintf("LB%d", n), port, balancerCaddyfile(port, upstreams))

		procs := map[string]int{"LB": lb.proc.Pid, "mariadbd-1": f.db1.Pid(), "mariadbd-2": f.db2.Pid(), "memcached": f.memcached.Pid()}
		for _, in := range f.instances {
			procs["instance-"+in.name] = in.proc.Pid
		}
		dir := filepath.Join(out, fmt.Sprintf("n%d", n))
		cmd, output := syncserver(ctx, t.TempDir(), append(append([]string{"bench", "--out", dir}, args...), fmt.Sprintf("n%d=%s/", n, lb.base))...)
		cpu0, total0 := cpuTimes(t, procs), machineCPU(t)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var profile string
		profiled := make(chan struct{})
		if n == len(f.instances) {
			// A profile of instance A in the middle of the last run.
			profile = filepath.Join(out, "instance-A.pprof")
			go func() {
				defer close(profiled)
				time.Sleep(5 * time.Second) // seeding and warm-up

				body, err := f.instances[0].admin("/debug/pprof/profile?seconds=20")
				if err == nil {
					err = os.WriteFile(profile, []byte(body), 0o644)
				}
				if err != nil {
					t.Logf("profiling instance A: %v", err)
				}
			}()
		} else {
			close(profiled)
		}
		err := cmd.Wait()
		<-profiled
		benchCPU := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		wall := time.Since(start)
		cpu1, total1 := cpuTimes(t, procs), machineCPU(t)
		if err != nil {
			for _, in := range f.instances {
				t.Logf("instance %s: syncserver_memcache_errors_total %v", in.name, in.metric("syncserver_memcache_errors_total"))
			}
			t.Fatalf("bench over %d instances: %v\n%s", n, err, output)
		}
		res, err := bench.ReadResults(filepath.Join(dir, "results.json"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&report, "\n%d instance(s):\n", n)
		for _, st := range res.Targets[0].Steps {
			fmt.Fprintf(&report, "  %-6s %8.1f req/s  p50 %6.1f ms  p95 %6.1f ms  p99 %6.1f ms  errors %d\n",
				st.Label, st.RequestsPerSec, st.Latency.P50MS, st.Latency.P95MS, st.Latency.P99MS, st.Errors)
		}
		busy := total1.busy - total0.busy
		fmt.Fprintf(&report, "  CPU over the run (%.0f s wall, machine %.0f%% busy of %d cores):", wall.Seconds(), 100*busy.Seconds()/(total1.all-total0.all).Seconds(), total1.cores)
		names := []string{"instance-A", "instance-B", "instance-C", "LB", "mariadbd-1", "mariadbd-2", "memcached"}
		for _, name := range names {
			fmt.Fprintf(&report, " %s %.1fs", name, (cpu1[name] - cpu0[name]).Seconds())
		}
		fmt.Fprintf(&report, " bench %.1fs\n", benchCPU.Seconds())
		fmt.Fprintf(&report, "  memcached errors so far (syncserver_memcache_errors_total):")
		for _, in := range f.instances {
			fmt.Fprintf(&report, " %s %v", in.name, in.metric("syncserver_memcache_errors_total"))
		}
		fmt.Fprintln(&report)
		if profile != "" {
			for _, view := range []string{"-flat", "-cum"} {
				top, err := exec.Command("go", "tool", "pprof", "-top", view, "-nodecount=30", profile).CombinedOutput()
				if err != nil {
					t.Logf("go tool pprof: %v\n%s", err, top)
				}
				fmt.Fprintf(&report, "  instance A, CPU profile (20 s of the run), pprof %s:\n%s", view, top)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(out, "fleet-bench.txt"), []byte(report.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + report.String())
}

// cpuTimes is the CPU time (user + system) each process has used, from
// /proc/<pid>/stat.
func cpuTimes(t *testing.T, procs map[string]int) map[string]time.Duration {
	t.Helper()
	out := map[string]time.Duration{}
	for name, pid := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("CPU time of %s: %v", name, err)
		}
		// "pid (comm) state ppid …": utime and stime are fields 14 and 15,
		// in clock ticks (100 per second on Linux).
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[name] = time.Duration(utime+stime) * 10 * time.Millisecond
	}
	return out
}

type machineTimes struct {
	busy, all time.Duration
	cores     int
}

// machineCPU is the machine's CPU time, busy and in all, from /proc/stat.
func machineCPU(t *testing.T) machineTimes {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	var m machineTimes
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) > 0 && fields[0] == "cpu":
			for i, v := range fields[1:min(len(fields), 9)] { // guest time is in user already
				n, _ := strconv.ParseInt(v, 10, 64)
				d := time.Duration(n) * 10 * time.Millisecond
				m.all += d
				if i != 3 && i != 4 { // idle, iowait
					m.busy += d
				}
			}
		case len(fields) > 0 && strings.HasPrefix(fields[0], "cpu"):
			m.cores++
		}
	}
	return m
}
