#!/bin/bash
# Where each client's wait through a live update of kvcache goes, per
# update (docs/performance.md, "Each client's wait through an update"):
# kvcache-v2 --threads 4 under bench/kvload (16 connections, --slow 500:
# every request of 0.5 ms or more, with when it was sent), N updates v2 ->
# v2 alternating exec and socket mode, with BATON_TRACE; then
# bench/kvhold.py places each client's longest request on each update's
# phases.  Several builds given: they take turns, ROUNDS times, and each
# is summed up over its runs.
#
# usage: kvhold.sh BUILD_DIR...   (each with examples/kvcache and
#                                  tools/baton built)
# The client is the same for every build: the last one's bench/kvload
# (one with --slow), or KVLOAD.  N=20 updates a run, ROUNDS=3; the runs
# are kept in OUT (a new directory under /tmp unless set).  MEMORY (MiB,
# 1024) and PRELOAD (kvload's options for the fill: none, its defaults)
# size the cache: PRELOAD="--keys 200000 --value 4096" fills ~1 GiB.
set -eu
n=${N:-20}
memory=${MEMORY:-1024}
preload=${PRELOAD:-}
rounds=${ROUNDS:-3}
out=${OUT:-$(mktemp -d /tmp/kvhold.XXXXXX)}
here=$(dirname "$0")
kvload=${KVLOAD:-${!#}/bench/kvload}

one() { # BUILD DIR: one run
	local b=$1 d=$2 fd line port lp mode=exec
	mkdir -p "$d"
	mkfifo "$d/out"
	BATON_TRACE=$d/trace "$b/examples/kvcache/kvcache-v2" --memory "$memory" \
		--threads 4 --control "$d/ctl" --port 0 >"$d/out" 2>"$d/err" &
	exec {fd}<"$d/out"
	IFS= read -r -t 10 line <&$fd
	port=${line##*:}
	# shellcheck disable=SC2086 # options, split
	"$kvload" --port "$port" --preload --seconds 1 $preload >/dev/null
	"$kvload" --port "$port" --seconds $((n + 3)) --slow 500 \
		>"$d/load" 2>"$d/slow" &
	lp=$!
	uptime >"$d/uptime"
	for _ in $(seq "$n"); do
		sleep 0.8	# a benchmark's pace, not a wait for an event
		# Read once the update is over: a jq started with it would take
		# a CPU from its blackout.
		"$b/tools/baton" update --socket "$d/ctl" --to \
			"$b/examples/kvcache/kvcache-v2" --mode $mode --json >"$d/answer" || true
		jq -c "[.outcome, .blackout_ms, .held_ms, \"$mode\"]" "$d/answer" >>"$d/updates"
		if [ $mode = exec ]; then mode=socket; else mode="exec"; fi
	done
	wait $lp
	uptime >>"$d/uptime"
	kill "$("$b/tools/baton" status --socket "$d/ctl" --json | jq .pid)"
	exec {fd}<&-
	rm -f "$d/out" "$d/ctl"
}

for r in $(seq "$rounds"); do
	i=0
	for b in "$@"; do
		i=$((i + 1))
		one "$b" "$out/build$i.round$r"
	done
done
i=0
for b in "$@"; do
	i=$((i + 1))
	echo "== $b"
	python3 "$here/kvhold.py" "$out"/build$i.round*
done
echo "runs kept in $out"
