#!/bin/sh
# shoal-test (registered by test/CMakeLists.txt): the example pair
# examples/camera_producer.c (C, publishes 1920x1080x3 uint8 tensor frames)
# and examples/frame_mean.py (Python, prints each frame's mean) work
# together in two processes, in both start orders: the consumer prints, for
# every frame in order, exactly the mean the producer computed while drawing
# it. Exit 0 pass, 1 fail, 77 skip.
#
# Usage: example-camera-python.sh PRODUCER PYTHON_DIR SOURCE_DIR [PYTHON]
#   PRODUCER    the built examples/camera_producer
#   PYTHON_DIR  the build tree's python/ (holds the shoal package)
#   SOURCE_DIR  the source tree (examples/frame_mean.py)
#   PYTHON      the interpreter (default /usr/bin/python3)
set -u

if [ $# -lt 3 ]; then
	echo "usage: $0 PRODUCER PYTHON_DIR SOURCE_DIR [PYTHON]" >&2
	exit 1
fi
producer=$1 pydir=$2 src=$3
py=${4:-/usr/bin/python3}
[ -n "$py" ] || py=/usr/bin/python3
frames=6

if [ ! -d "$pydir/shoal" ]; then
	echo "SKIP: no shoal package in $pydir (not built)" >&2
	exit 77
fi
if ! PYTHONPATH=$pydir "$py" -c 'import numpy, shoal' 2>/dev/null; then
	echo "SKIP: $py cannot import numpy and shoal" >&2
	exit 77
fi

tmp=$(mktemp -d) || exit 1
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.out "$tmp"/*.err; do
		[ -s "$f" ] && { echo "--- $f"; cat "$f"; } >&2
	done
	exit 1
}

# A private registry: nothing else on the machine sees these services.
export SHOAL_DIR="$tmp/registry"
mkdir -m 700 "$SHOAL_DIR" || exit 1

for order in producer consumer; do
	name="examples/camera-test-$order"
	# Each side waits for the other (the producer for a subscriber, the
	# consumer for the service) up to 60 s; timeout(1) only catches a hang.
	start_producer() {
		timeout 120 "$producer" "$frames" "$name" \
			>"$tmp/producer.out" 2>"$tmp/producer.err" &
		pp=$!
	}
	start_consumer() {
		PYTHONPATH=$pydir timeout 120 "$py" "$src/examples/frame_mean.py" \
			"$name" >"$tmp/consumer.out" 2>"$tmp/consumer.err" &
		pc=$!
	}
	if [ "$order" = producer ]; then
		start_producer
		start_consumer
	else
		start_consumer
		start_producer
	fi
	pids="$pp $pc"
	wait "$pp"
	rp=$?
	wait "$pc"
	rc=$?
	pids=""
	[ "$rp" -eq 0 ] || fail "$order first: producer exited $rp"
	[ "$rc" -eq 0 ] || fail "$order first: consumer exited $rc"
	n=$(wc -l <"$tmp/producer.out")
	[ "$n" -eq "$frames" ] ||
		fail "$order first: producer printed $n lines, not $frames"
	cmp -s "$tmp/producer.out" "$tmp/consumer.out" ||
		fail "$order first: the means differ (producer, then consumer)" \
			"$(diff "$tmp/producer.out" "$tmp/consumer.out")"
	echo "$order first: $frames frames, means equal"
done
head -n 2 "$tmp/consumer.out"
exit 0
