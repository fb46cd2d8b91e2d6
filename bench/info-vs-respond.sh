#!/usr/bin/env bash
# info/collections against Caddy's own `respond`, side by side: the
# authenticated read every sync starts with, served by firefox_sync on
# SQLite, next to a static_response of the same body with the same
# request (Basic auth header included) in the same Caddy process, both on
# plain HTTP on loopback. wrk -t2 -c16 runs against each in turn, ROUNDS
# times, alternating, so both see the same machine; the closing line is
# the ratio of their summed throughputs (issue 10's target: at least
# 0.6). wrk must be installed (apt-get install wrk); nothing else uses it.
#
#   bash bench/info-vs-respond.sh                  # 3 rounds of 10 s each
#   ROUNDS=5 DURATION=20s bash bench/info-vs-respond.sh
#
# The server's CPU profile during one round of info/collections:
#   PROFILE=info.pprof bash bench/info-vs-respond.sh
# Another build of syncserver (to compare two versions in turn):
#   SYNCSERVER_BIN=/tmp/old/syncserver bash bench/info-vs-respond.sh
# The same handler chain without the network, with allocations per
# request (also part of `make gobench`):
#   go test -run '^$' -bench InfoCollectionsChain -benchmem ./caddymodule/
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}"
duration="${DURATION:-10s}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
if [ -n "${SYNCSERVER_BIN:-}" ]; then
	cp "$SYNCSERVER_BIN" "$work/syncserver"
else
	go build -o "$work/syncserver" ./cmd/syncserver
fi
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sync_port=$(port); static_port=$(port); admin_port=$(port)
user=alice@example.com
password=benchmark-password
name=$(printf '%s\n' "$password" | "$work/syncserver" users add --create --db sqlite --data "$work/data" --password-stdin "$user" 2>/dev/null |
	awk '/^created user/ {print $3}')
[ -n "$name" ] || { echo "could not create the user" >&2; exit 1; }
auth="Authorization: Basic $(printf '%s:%s' "$name" "$password" | base64 -w0)"

cat > "$work/Caddyfile" <<CADDY
{
	admin 127.0.0.1:$admin_port
	auto_https off
	servers {
		protocols h1
	}
}
http://127.0.0.1:$sync_port {
	firefox_sync {
		database sqlite $work/data
		registration closed
	}
}
http://127.0.0.1:$static_port {
	respond {\$BODY} 200
}
CADDY
run_server() {
	BODY="$1" "$work/syncserver" run --config "$work/Caddyfile" --adapter caddyfile >"$work/server.log" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		curl -fsS -o /dev/null "http://127.0.0.1:$static_port/" 2>/dev/null && return 0
		sleep 0.1
	done
	cat "$work/server.log" >&2
	exit 1
}

# The engines of a desktop profile, one record each, so info/collections
# lists what a real one does.
run_server placeholder
base="http://127.0.0.1:$sync_port/1.1/$name"
for c in bookmarks history forms passwords prefs tabs clients addons meta crypto; do
	curl -fsS -o /dev/null -X PUT -H "$auth" -H 'Content-Type: application/json' \
		--data '{"payload":"{\"ciphertext\":\"x\"}"}' "$base/storage/$c/record1"
done
body=$(curl -fsS -H "$auth" "$base/info/collections")
kill "$pid"; wait "$pid" 2>/dev/null || true
# The static site answers the very same bytes.
run_server "$body"
[ "$(curl -fsS -H "$auth" "http://127.0.0.1:$static_port/")" = "$body" ] || { echo "the static body differs" >&2; exit 1; }
echo "body: ${#body} bytes: $body"

# On a machine shared with other work, throughput moves with that work;
# the server's CPU time per request (user + system, from /proc) moves
# much less, so it is printed too.
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
rps() {
	local before out after
	before=$(cpu)
	out=$(wrk -t2 -c16 -d"$duration" -H "$auth" "$1")
	after=$(cpu)
	awk -v b="$before" -v a="$after" -v t="$ticks" '
		/requests in/ {n = $1}
		/^Requests\/sec/ {r = $2}
		END {printf "%s %.1f", r, (a - b) / t * 1e6 / n}' <<<"$out"
}
sum_info=0; sum_static=0; cpu_info=0; cpu_static=0
for r in $(seq "$rounds"); do
	if [ "$r" = 1 ] && [ -n "${PROFILE:-}" ]; then
		secs=${duration%s}
		curl -fsS -o "$PROFILE" "http://127.0.0.1:$admin_port/debug/pprof/profile?seconds=$secs" &
		prof=$!
	fi
	read -r info info_us <<<"$(rps "$base/info/collections")"
	[ -n "${prof:-}" ] && { wait "$prof"; prof=""; echo "profile: $PROFILE"; }
	read -r static static_us <<<"$(rps "http://127.0.0.1:$static_port/")"
	echo "round $r: info/collections $info req/s ($info_us µs CPU each), respond $static req/s ($static_us µs CPU each)"
	sum_info=$(echo "$sum_info + $info" | bc); sum_static=$(echo "$sum_static + $static" | bc)
	cpu_info=$(echo "$cpu_info + $info_us" | bc); cpu_static=$(echo "$cpu_static + $static_us" | bc)
done
printf 'info/collections / respond: %.2f (%s / %s req/s summed over %s rounds)\n' \
	"$(echo "$sum_info / $sum_static" | bc -l)" "$sum_info" "$sum_static" "$rounds"
printf 'server CPU per request, respond / info/collections: %.2f (%.1f / %.1f µs, mean of %s rounds)\n' \
	"$(echo "$cpu_static / $cpu_info" | bc -l)" "$(echo "$cpu_static / $rounds" | bc -l)" "$(echo "$cpu_info / $rounds" | bc -l)" "$rounds"
