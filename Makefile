# syncserver: build, run and test.
#
#   make run        serve http://127.0.0.1:5000/ from SQLite in ./data
#   make test       start MariaDB and memcached if needed, run every test
#   make test-race  the concurrent packages' tests under the race detector
#   make build      bin/syncserver
#   make bench      side-by-side bench report in bench-out/ (needs the services)
#   make gobench    go test -bench of every package
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

.PHONY: all build run test test-race bench gobench lint services memcached mariadb clean

all: build

build:
	$(GO) build -o bin/syncserver ./cmd/syncserver

run:
	$(GO) run ./cmd/syncserver

test: services
	$(GO) test -count=1 -timeout 15m ./...

test-race: services
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)

# A short side-by-side comparison of the native server on SQLite and on
# MariaDB (syncserver bench --local); the report lands in bench-out/.
bench: services
	bash bench/run-default.sh

# The Go micro-benchmarks of every package (store, handler, cache, migrate).
gobench: services
	$(GO) test -count=1 -run '^$$' -bench . -benchmem -timeout 30m ./...

lint:
	@files=$$(gofmt -l $$(find . -name '*.go' -not -path './bin/*')); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -version >/dev/null 2>&1; then \
		echo "staticcheck $(STATICCHECK_VERSION)"; \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...; \
	elif [ -n "$(STATICCHECK_REQUIRED)" ]; then \
		echo "staticcheck $(STATICCHECK_VERSION) could not be downloaded"; exit 1; \
	else \
		echo "staticcheck $(STATICCHECK_VERSION) could not be downloaded; skipping it"; \
	fi

# The tests need MariaDB (root, empty password, on $(MARIADB_ADDR):$(MARIADB_PORT))
# and memcached. Both targets are idempotent: they only install or start
# what is missing.
services: mariadb memcached

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

mariadb:
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

clean:
	rm -rf bin
