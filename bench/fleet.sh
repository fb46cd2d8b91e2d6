#!/usr/bin/env bash
# The fleet's throughput against its size: `syncserver bench` through
# Caddy's load balancer over 1, 2 and 3 syncserver instances, one run after
# the other on the same fleet (shards s1 and s2 on two private mariadbd,
# one memcached, the same accounts), with the CPU time each process spent
# per run and a CPU profile of one instance during the 3-instance run.
# It is TestFleetBench (cmd/syncserver/fleetbench_test.go), which sets the
# fleet up exactly as the end-to-end test does.
#
# Environment: FLEET_BENCH_OUT (fleet-bench-out) receives fleet-bench.txt
# (the figures), n1/ n2/ n3/ (each run's results.json and report.html) and
# instance-A.pprof; FLEET_BENCH_ARGS adds syncserver bench flags (the
# defaults: --users 20 --records 500 --concurrency 4,16 --duration 15s).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${FLEET_BENCH_OUT:-fleet-bench-out}"
mkdir -p "$out"
FLEET_BENCH=1 FLEET_BENCH_OUT="$(cd "$out" && pwd)" \
	go test -tags fleet -count=1 -timeout 30m -run '^TestFleetBench$' ./cmd/syncserver/
cat "$out/fleet-bench.txt"
