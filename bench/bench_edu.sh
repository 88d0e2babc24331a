#!/bin/sh
# Blackout of live updates of a program driving many edu devices: demo-host
# v2 updating into itself while it holds N edu devices, all served by one
# devsim process (edu has no tick to keep: one thread answers them all).  Each edu's restore() reads two registers back over vfio-user
# to prove the device was not reset in between, so what the blackout pays
# a device is a round trip to devsim unless the reads are in flight
# together (baton_devio_read_submit(), docs/performance.md).
#
# usage: bench_edu.sh [--csv FILE] BUILD_DIR [BUILD_DIR...]
#
# With several builds (an old one and a new one, say) the builds take
# turns: ROUNDS rounds, in each every build's host is started on the same
# devices and makes RUNS updates per mode, so that both see the same load.
# Prints, per build, point and mode, the median blackout over every round,
# the cost an edu adds (the slope from the point of 1 device), and the
# median of the restore's "devices" phase (BATON_TRACE: every driver's
# restore and restore_complete, both modes' updates), and writes them to
# FILE as CSV.  DEVICES="1 64 256 1024" RUNS=6 ROUNDS=2 by
# default; make bench runs DEVICES="1 256" ROUNDS=1 on its own build.
set -eu
csv=
if [ "${1:-}" = --csv ]; then
	csv=$2
	shift 2
fi
[ $# -ge 1 ] || { echo "usage: bench_edu.sh [--csv FILE] BUILD_DIR..." >&2; exit 2; }
counts=${DEVICES:-1 64 256 1024}
runs=${RUNS:-6}
rounds=${ROUNDS:-2}
devsim=$1/devsim/devsim

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

work=$(mktemp -d /tmp/baton-bench-edu.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$work/samples"
for n in $counts; do
	dir=$work/$n
	mkdir "$dir"
	mkfifo "$dir/ready"
	i=0
	while [ $i -lt "$n" ]; do
		printf 'edu@0000:%02x:%02x.0\n' $((1 + i / 32)) $((i % 32)) >>"$dir/devsim.conf"
		i=$((i + 1))
	done
	"$devsim" --dir "$dir" --config "$dir/devsim.conf" --ready-fd 3 3>"$dir/ready" \
		2>"$dir/devsim.log" &
	devsim_pid=$!
	timeout 30 cat "$dir/ready" >/dev/null
	r=0
	while [ $r -lt "$rounds" ]; do
		b=0
		for build in "$@"; do
			b=$((b + 1))
			host=$build/examples/demo-host/demo-host-v2
			BATON_TRACE=$work/trace-$b-$n "$host" --devsim "$dir" --control "$dir/c.sock" \
				--ready-fd 3 3>"$dir/ready" >/dev/null 2>>"$dir/host.log" &
			timeout 120 cat "$dir/ready" >/dev/null
			for mode in exec socket; do
				i=0
				while [ $i -lt "$runs" ]; do
					# Read once the update is over: a jq started with it
					# would take a CPU from its blackout.
					"$build/tools/baton" update --socket "$dir/c.sock" --to "$host" \
						--mode "$mode" --json >"$dir/answer" || true
					ms=$(jq -e 'select(.outcome == "updated") | .blackout_ms' "$dir/answer")
					echo "$b $n $mode $ms" >>"$work/samples"
					i=$((i + 1))
				done
			done
			pid=$("$build/tools/baton" status --socket "$dir/c.sock" --json | jq .pid)
			kill -TERM "$pid"
			while kill -0 "$pid" 2>/dev/null; do
				timeout 10 tail -s 0.01 --pid="$pid" -f /dev/null || break
			done
			rm -f "$dir/c.sock"
		done
		r=$((r + 1))
	done
	kill -TERM "$devsim_pid"
	wait "$devsim_pid" || true
done

# devices_ms: the restore's "devices" phase (lib/host/trace.c) in each
# update, both modes: every driver's restore() and restore_complete().
devices_ms() {
	sort -n "$work/trace-$1-$2" | awk '$3 == "freeze" { on = 1 } on { if ($3 == "devices")
		printf "%.3f\n", ($1 - p) / 1e6; p = $1 } $3 == "finish" { on = 0 }' | median
}

[ -n "$csv" ] && echo "build,devices,mode,blackout_ms,per_edu_us,updates,devices_phase_ms" >"$csv"
printf '%-40s %8s %-7s %12s %10s %10s\n' build devices mode "blackout ms" "us/edu" "devices ms"
b=0
for build in "$@"; do
	b=$((b + 1))
	first=${counts%% *}
	for mode in exec socket; do
		base=$(awk -v b=$b -v n="$first" -v m=$mode '$1 == b && $2 == n && $3 == m { print $4 }' \
			"$work/samples" | median)
		for n in $counts; do
			awk -v b=$b -v n="$n" -v m=$mode '$1 == b && $2 == n && $3 == m { print $4 }' \
				"$work/samples" >"$work/these"
			med=$(median <"$work/these")
			k=$(wc -l <"$work/these")
			slope=$(awk -v m="$med" -v b0="$base" -v n="$n" -v f="$first" \
				'BEGIN { if (n > f) printf "%.1f", (m - b0) * 1000 / (n - f) }')
			dev=$(devices_ms $b "$n")
			printf '%-40s %8s %-7s %12.3f %10s %10s\n' "$build" "$n" "$mode" "$med" "$slope" "$dev"
			[ -n "$csv" ] && echo "$build,$n,$mode,$med,$slope,$k,$dev" >>"$csv"
		done
	done
done
exit 0
