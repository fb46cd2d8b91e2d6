#!/usr/bin/env bash
# `make soak`: the steady-sync mix for 10 minutes at 8 concurrent clients
# against a syncserver process configured with the defaults
# (bench/soak.Caddyfile: SQLite, 5 MiB quota), on 50 accounts of 1,000
# records seeded over HTTP. The bench samples the server's RSS, goroutines
# and open files from its admin endpoint every 10 s into the report, and
# exits non-zero on any wrong answer: a soak passes with 0 errors.
#
# Environment: SOAK_DURATION (10m), SOAK_OUT (soak-out), SOAK_LISTEN
# (127.0.0.1:5850) and SOAK_ADMIN (127.0.0.1:5851), both free loopback
# addresses. Extra arguments are passed to syncserver bench.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${SOAK_DURATION:-10m}"
out="${SOAK_OUT:-soak-out}"
export SOAK_LISTEN="${SOAK_LISTEN:-127.0.0.1:5850}"
export SOAK_ADMIN="${SOAK_ADMIN:-127.0.0.1:5851}"
work="$(mktemp -d -t syncserver-soak-XXXXXX)"
export SOAK_DATA="$work/data"
server=""
cleanup() {
	if [[ -n $server ]]; then
		kill "$server" 2>/dev/null || true
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$out"
go build -o "$work/syncserver" ./cmd/syncserver
"$work/syncserver" run --config bench/soak.Caddyfile --adapter caddyfile >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	if curl -fsS "http://$SOAK_ADMIN/metrics" >/dev/null 2>&1; then
		break
	fi
	if ! kill -0 "$server" 2>/dev/null; then
		echo "the server did not start; see $out/server.log" >&2
		exit 1
	fi
	sleep 0.2
done

"$work/syncserver" bench "soak=http://$SOAK_LISTEN/" \
	--users 50 --records 1000 \
	--concurrency 8 --duration "$duration" --max-requests 1000000000 --warmup 5s \
	--sample "soak=http://$SOAK_ADMIN/metrics" --sample-interval 10s \
	--out "$out" "$@"
