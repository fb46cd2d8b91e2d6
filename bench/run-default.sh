#!/usr/bin/env bash
# The short default comparison behind `make bench`: native SQLite against
# native MariaDB, both started in-process on loopback (--local), seeded
# directly, growth scenario (10k, 100k records) then concurrency steps
# 1..50. The report lands in bench-out/ (BENCH_OUT to change it).
#
# Needs MariaDB on 127.0.0.1:3306 as root (make services), or
# SYNCSERVER_BENCH_MYSQL='user:pw@tcp(host:3306)/'. A database bch_<random>
# is created and dropped. Extra arguments are passed to syncserver bench.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_OUT:-bench-out}"
exec go run ./cmd/syncserver bench \
	--local sqlite,mysql \
	--users 50 --records 2000 \
	--concurrency 1,5,10,25,50 --duration 8s --warmup 3s \
	--growth --growth-sizes 10000,100000 --growth-duration 8s \
	--out "$out" "$@"
