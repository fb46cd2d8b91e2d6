#!/usr/bin/env bash
# What the database itself needs while the bench mix loads the machine:
# syncserver-benchlocal benches one native server (--local KIND, one
# closed-loop step of CONCURRENCY clients), and while the step runs, its
# floor-probe subcommand times bare 100-row INSERT and DELETE
# transactions on a store of the same kind of its own (RATE pairs a
# second). The server's POST and DELETE latency is printed next to the
# floor's: the floor under that load is as low as they could ever get on
# this machine, and the ratio targets of issue 10 (native write p95/p99 at
# most 0.3 of the FSyncMS stand-in's) can be checked against it.
#
#   bash bench/floor-under-load.sh mysql 4
#   DURATION=30 RATE=10 bash bench/floor-under-load.sh sqlite 16
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:?usage: bench/floor-under-load.sh sqlite|mysql [CONCURRENCY]}"
conc="${2:-4}"
duration="${DURATION:-15}" # seconds
rate="${RATE:-20}"
work="$(mktemp -d)"
bench=""
trap '[ -n "$bench" ] && kill "$bench" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/benchlocal" ./cmd/syncserver-benchlocal
"$work/benchlocal" --local "$kind" --users 20 --records 1000 --concurrency "$conc" \
	--duration "${duration}s" --warmup 3s --slice 0 --quiet --out "$work/out" >"$work/bench.out" 2>"$work/bench.log" &
bench=$!
# The step starts when the warm-up ends; the probe ends a second before
# the step does.
until grep -q '"warm-up done"' "$work/bench.log"; do
	if ! kill -0 "$bench" 2>/dev/null; then
		cat "$work/bench.log" >&2
		exit 1
	fi
	sleep 0.1
done
"$work/benchlocal" floor-probe --kind "$kind" --rate "$rate" --duration "$((duration - 1))s"
wait "$bench"
bench=""
python3 - "$work/out/results.json" <<'PY'
import json, sys
for t in json.load(open(sys.argv[1]))["targets"]:
    for s in t["steps"]:
        print(f"{t['name']} {s['label']}: {s['requests_per_s']:.1f} req/s")
        for e in s["endpoints"]:
            if e["name"].split()[0] in ("POST", "DELETE"):
                print(f"  server {e['name']}: n={e['count']} p50={e['p50_ms']:.2f} p95={e['p95_ms']:.2f} p99={e['p99_ms']:.2f} ms")
PY
