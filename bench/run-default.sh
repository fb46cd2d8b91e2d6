#!/usr/bin/env bash
# The short default comparison behind `make bench`, every server started
# in-process on loopback (--local) and benched one at a time, each step
# interleaved across them in --slice slices (bench/README.md):
# native SQLite, native MariaDB, the shim (Caddy with firefox_sync on
# SQLite proxying every user to an FSyncMS stand-in) and that legacy
# stand-in alone. Each is seeded directly (native store, or the stand-in's
# FSyncMS tables), runs the growth scenario (10k, 100k records) then the
# concurrency steps 1..50. Ratio tables: sqlite/legacy and mysql/legacy
# (what moving a user to the native store gains; their POST and DELETE
# rows are printed first), mysql/sqlite and shim/legacy (the shim's
# overhead). The report lands in bench-out/ (BENCH_OUT to change it).
# About four minutes on two cores. The in-process servers come with
# syncserver-benchlocal, not with the syncserver binary.
#
# Needs MariaDB on 127.0.0.1:3306 as root (make services), or
# SYNCSERVER_BENCH_MYSQL='user:pw@tcp(host:3306)/'. Databases bch_<random>
# are created and dropped. Extra arguments are passed on (every flag of
# syncserver bench works).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${BENCH_OUT:-bench-out}"
exec go run ./cmd/syncserver-benchlocal \
	--local sqlite,mysql,shim,legacy \
	--compare sqlite/legacy,mysql/legacy,mysql/sqlite,shim/legacy \
	--write-summary sqlite/legacy,mysql/legacy \
	--users 50 --records 2000 \
	--concurrency 1,5,10,25,50 --duration 5s --warmup 2s \
	--growth --growth-sizes 10000,100000 --growth-duration 5s \
	--out "$out" "$@"
