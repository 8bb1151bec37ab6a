#!/bin/sh
# SPDX-License-Identifier: MIT
#
# examples/gateway_two_hosts.sh: two "hosts" on one machine (two registry
# directories, A and B), a shoal gateway on each, one nats-server between
# them (docs/gateway.md). A publishes camera/left with `shoal pub`; B's
# gateway makes it a local service, and `shoal sub` on B prints the lines.
#
# Usage: examples/gateway_two_hosts.sh [PORT]   (default: one the server
#   picks; the script reads it from the server's log)
#   SHOAL=path/to/shoal (default build/tools/shoal), NATS_SERVER=nats-server
# Exit status 77 when nats-server or the gateway is missing.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
SHOAL=${SHOAL:-$here/build/tools/shoal}
NATS_SERVER=${NATS_SERVER:-nats-server}
port=${1:--1}

if ! command -v "$NATS_SERVER" >/dev/null 2>&1; then
	echo "nats-server not found (Debian: apt install nats-server)" >&2
	exit 77
fi
if ! "$SHOAL" gateway --help >/dev/null 2>&1; then
	"$SHOAL" gateway --help >&2 || true
	exit 77
fi

work=$(mktemp -d)
pids=""
cleanup() {
	exec 3>&- 2>/dev/null || true
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Waits up to 10 s for a command to succeed.
wait_for() {
	i=0
	until "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "timed out waiting for: $*" >&2; exit 1; }
		sleep 0.1
	done
}

"$NATS_SERVER" -a 127.0.0.1 -p "$port" -js -sd "$work/js" >"$work/nats.log" 2>&1 &
pids="$pids $!"
wait_for grep -q "Server is ready" "$work/nats.log"
port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' \
	"$work/nats.log")
url=nats://127.0.0.1:$port
echo "== nats-server on $url (JetStream, store in $work/js)"

echo "== host A: gateway exporting 'camera/*'; host B: gateway importing it"
SHOAL_DIR=$work/a "$SHOAL" gateway --server "$url" --export 'camera/*' \
	>"$work/gw-a.log" 2>&1 &
pids="$pids $!"
SHOAL_DIR=$work/b "$SHOAL" gateway --server "$url" --import 'camera/*' \
	>"$work/gw-b.log" 2>&1 &
pids="$pids $!"

echo "== host A: shoal pub camera/left (reliable: JetStream keeps the lines"
echo "   until B has a subscriber)"
mkfifo "$work/lines"
SHOAL_DIR=$work/a "$SHOAL" pub camera/left <"$work/lines" &
pids="$pids $!"
exec 3>"$work/lines"

# The mirror appears on B once A's gateway has subscribed and announced it.
wait_for sh -c "SHOAL_DIR=$work/b '$SHOAL' list | grep -q camera/left"
echo "== host B: shoal list"
SHOAL_DIR=$work/b "$SHOAL" list

printf 'frame 1 from host A\nframe 2 from host A\nframe 3 from host A\n' >&3

echo "== host B: shoal sub camera/left --count 3"
SHOAL_DIR=$work/b "$SHOAL" sub camera/left --count 3 --timeout 20

exec 3>&-
echo "== the gateways said:"
sed 's/^/   A: /' "$work/gw-a.log"
sed 's/^/   B: /' "$work/gw-b.log"
