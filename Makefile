# syncserver: build, run and test.
#
#   make run        serve http://127.0.0.1:5000/ from SQLite in ./data
#   make test       start MariaDB and memcached if needed, run every test
#                   (the fleet test last)
#   make test-race  the concurrent packages' tests under the race detector
#   make test-fleet the end-to-end fleet test: 2 MariaDB shards, memcached,
#                   3 instances behind Caddy's load balancer (~2 minutes)
#   make build      bin/syncserver
#   make bench      side-by-side bench report in bench-out/ (needs the services)
#   make bench-fleet bench through a load balancer over 1, 2, 3 instances
#   make soak       10-minute soak of a default-configured server, report in soak-out/
#   make gobench    go test -bench of every package
#   make writebench the write path against its SQL floor, SQLite and MariaDB
#   make lint       gofmt, go vet, staticcheck

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

GO                  ?= go
STATICCHECK_VERSION ?= v0.8.2
MEMCACHED_ADDR      ?= 127.0.0.1
MEMCACHED_PORT      ?= 11211
MARIADB_ADDR        ?= 127.0.0.1
MARIADB_PORT        ?= 3306
# 1: make lint fails when staticcheck cannot be fetched (CI), instead of
# skipping it.
STATICCHECK_REQUIRED ?=
# The packages whose state is shared between goroutines (store shard
# locks, the memcached layer's singleflight and pending invalidations,
# the handler's caches and throttles, the Caddy module's pools): make
# test-race runs their tests under the race detector.
RACE_PKGS           ?= ./syncstore/ ./syncstore/memcache/ ./syncstore/httpapi/ ./caddymodule/
# Asks memcached for its version: a port that merely accepts (a memcached
# going down) does not count as up.
MEMCACHED_PROBE = timeout 1 bash -c 'exec 3<>/dev/tcp/$(MEMCACHED_ADDR)/$(MEMCACHED_PORT) && printf "version\r\n" >&3 && read -r line <&3 && [[ $$line == VERSION* ]]' 2>/dev/null
# Root for apt-get and daemons; empty when already root.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test test-race test-fleet bench bench-fleet soak gobench writebench lint services memcached mariadb systemd-analyze clean

all: build

# Like Caddy's release builds: no local paths and no DWARF/symbol table
# (stack traces and pprof still work: they use the runtime's own tables).
build:
	$(GO) build -trimpath -ldflags '-s -w' -o bin/syncserver ./cmd/syncserver

run:
	$(GO) run ./cmd/syncserver

# SKIP_FLEET=1 leaves the fleet test out (.ci/run runs it as its own step).
SKIP_FLEET ?=
test: services
	$(GO) test -count=1 -timeout 15m ./...
	@if [ -z "$(SKIP_FLEET)" ]; then $(MAKE) --no-print-directory test-fleet; fi

# TestFleetEndToEnd (cmd/syncserver/fleete2e_test.go, build tag fleet):
# private mariadbd processes for shards s1 and s2, one memcached, three
# syncserver instances and a fourth as Caddy's load balancer, all on
# loopback; the bench mix and a canary rebalance s1 -> s2 under load, s2
# stopped, restarted and frozen for 20 s, an instance SIGKILLed mid-POST.
test-fleet: services
	$(GO) test -tags fleet -count=1 -timeout 10m -run '^TestFleetEndToEnd$$' ./cmd/syncserver/

test-race: services
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

# A short side-by-side comparison of the native server on SQLite and on
# MariaDB (syncserver bench --local); the report lands in bench-out/.
bench: services
	bash bench/run-default.sh

# syncserver bench through Caddy's load balancer over 1, 2 and 3 instances
# of the fleet test's fleet, with each process's CPU time and a profile of
# one instance; figures in fleet-bench-out/fleet-bench.txt.
bench-fleet: services
	bash bench/fleet.sh

# The steady-sync mix for 10 minutes at c=8 against a syncserver process
# with the default settings (5 MiB quota), 50 accounts x 1,000 records; the
# server's RSS, goroutines and open files are sampled into the report in
# soak-out/. Fails on any wrong answer. SOAK_DURATION=60s for a short check.
soak:
	bash bench/soak.sh

# The Go micro-benchmarks of every package (store, handler, cache, migrate).
gobench: services
	$(GO) test -count=1 -run '^$$' -bench . -benchmem -timeout 30m ./...

# The write requests (100-record POST and 10-id DELETE into 1,000 and
# 100,000 records, 1-record PUT) next to the bare SQL that stores the same
# rows, interleaved in one run (storetest.RunWriteBenchmarks). Prints one
# line per backend and benchmark: ms per request of the store and of the
# floor, and their ratio store/floor; the raw go test output goes to
# $(WRITEBENCH_OUT).
WRITEBENCH_TIME ?= 50x
WRITEBENCH_OUT  ?= bench-out/writebench.txt
writebench: services
	@mkdir -p $(dir $(WRITEBENCH_OUT))
	@$(GO) test -count=1 -timeout 20m -run '^$$' -bench '^BenchmarkWrite$$' -benchtime $(WRITEBENCH_TIME) \
		./syncstore/sqlitestore ./syncstore/mysqlstore > $(WRITEBENCH_OUT) 2>&1 || { cat $(WRITEBENCH_OUT); exit 1; }
	@awk 'BEGIN { printf "%-8s %-24s %10s %10s %12s\n", "backend", "benchmark", "store ms", "floor ms", "store/floor" } \
		/^pkg:/ { n = split($$2, p, "/"); backend = p[n]; sub(/store$$/, "", backend) } \
		/^BenchmarkWrite\// { name = $$1; sub(/^BenchmarkWrite\//, "", name); sub(/-[0-9]+$$/, "", name); \
			for (i = 3; i < NF; i++) { if ($$(i+1) == "store-ns/op") s = $$i; if ($$(i+1) == "floor-ns/op") f = $$i; if ($$(i+1) == "store/floor") r = $$i } \
			printf "%-8s %-24s %10.2f %10.2f %12.2f\n", backend, name, s / 1e6, f / 1e6, r }' $(WRITEBENCH_OUT)

lint:
	@files=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet -tags fleet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -version >/dev/null 2>&1; then \
		echo "staticcheck $(STATICCHECK_VERSION)"; \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags fleet ./...; \
	elif [ -n "$(STATICCHECK_REQUIRED)" ]; then \
		echo "staticcheck $(STATICCHECK_VERSION) could not be downloaded"; exit 1; \
	else \
		echo "staticcheck $(STATICCHECK_VERSION) could not be downloaded; skipping it"; \
	fi

# The tests need MariaDB (root, empty password, on $(MARIADB_ADDR):$(MARIADB_PORT))
# and memcached. Both targets are idempotent: they only install or start
# what is missing.
services: mariadb memcached systemd-analyze

memcached:
	@if ! command -v memcached >/dev/null; then \
		echo "installing memcached"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq memcached; \
	fi
	@# Start it whenever it does not answer (a start while another still
	@# holds the port just fails), not only once up front: a memcached that
	@# is shutting down can answer a first probe and then go away.
	@for i in $$(seq 50); do \
		$(MEMCACHED_PROBE) && exit 0; \
		if [ $$((i % 10)) = 1 ]; then \
			echo "starting memcached on $(MEMCACHED_ADDR):$(MEMCACHED_PORT)"; \
			$(SUDO) memcached -d -u memcache -l $(MEMCACHED_ADDR) -p $(MEMCACHED_PORT) -U 0 -m 64 || true; \
		fi; \
		sleep 0.1; \
	done; echo "memcached does not answer on $(MEMCACHED_ADDR):$(MEMCACHED_PORT)"; exit 1

# Private mariadbd processes (fault and fleet tests) need the server's
# binaries even when MariaDB itself answers from elsewhere: mariadbd and
# mariadb-install-db, both in Debian's mariadb-server(-core).
mariadb:
	@if [ ! -x /usr/sbin/mariadbd ] || ! command -v mariadb-install-db >/dev/null; then \
		if command -v apt-get >/dev/null; then \
			echo "installing mariadb-server (mariadbd, mariadb-install-db)"; \
			$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mariadb-server; \
		else \
			echo "MariaDB's server binaries are missing (/usr/sbin/mariadbd, mariadb-install-db): install mariadb-server"; exit 1; \
		fi; \
	fi
	@if ! timeout 1 bash -c '</dev/tcp/$(MARIADB_ADDR)/$(MARIADB_PORT)' 2>/dev/null; then \
		if [ ! -x /usr/sbin/mariadbd ]; then \
			echo "MariaDB is not installed (/usr/sbin/mariadbd) and nothing answers on $(MARIADB_ADDR):$(MARIADB_PORT)"; exit 1; \
		fi; \
		echo "starting MariaDB"; \
		$(SUDO) install -d -o mysql -g mysql /run/mysqld; \
		$(SUDO) start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd; \
	fi
	@for i in $$(seq 120); do \
		mariadb-admin --protocol=tcp -h $(MARIADB_ADDR) -P $(MARIADB_PORT) -u root ping >/dev/null 2>&1 && exit 0; sleep 0.5; \
	done; echo "MariaDB does not answer on $(MARIADB_ADDR):$(MARIADB_PORT) (root, empty password)"; exit 1

# systemd-analyze verifies docs/deploy/syncserver.service in the tests,
# which skip that check without it. Best effort: only where apt-get exists.
systemd-analyze:
	@if ! command -v systemd-analyze >/dev/null && command -v apt-get >/dev/null; then \
		echo "installing systemd (for systemd-analyze)"; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends systemd \
			|| echo "could not install systemd: the unit's systemd-analyze test will be skipped"; \
	fi

clean:
	rm -rf bin
