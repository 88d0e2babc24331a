#!/bin/sh
# Loss under load: every pktgen at increasing rates through repeated live
# updates, at 8 and at 1,024 devices, until one loses a packet; the
# highest rate per device with zero loss is the figure.
#
# Each point is one bench_devices.sh run at that rate (RUNS updates in
# each mode, then the cold restart it compares with, whose reset losses do
# not count): devsim's count of packets generated against the drivers'
# count received, over every update.
#
# Of the packets lost, devsim says how many it dropped (a ring full) before
# the first update (the host's start), while an update ran, while none did
# (what the host's steady drain could not keep up with at that rate), and
# once the cold restart that ends the run began (its new host probing every
# device again).  The figure counts the two in between: the loss of a
# program that updates.
#
# usage: bench_loss.sh BUILD_DIR [OUT_DIR]   (OUT_DIR gets loss.csv:
#        devices,rate,updates,generated,received,lost,dropped_start,
#        dropped_in_updates,dropped_between,dropped_cold)
# DEVICES="8" RATES_8="20000 50000" RUNS=3 for a quick look.
set -eu
build=$1
out=${2:-}
here=$(dirname "$0")
counts=${DEVICES:-8 1024}
export RUNS="${RUNS:-5}"
# One run a point: the rates, not the rounds, are what it compares.
export ROUNDS="${ROUNDS:-1}"
# Packets/s per device; devsim ticks every device each millisecond.
rates_8=${RATES_8:-20000 50000 100000 200000 400000 800000}
rates_1024=${RATES_1024:-200 500 1000 2000 4000}

[ -n "$out" ] && mkdir -p "$out" && echo "devices,rate,updates,generated,received,lost,dropped_start,dropped_in_updates,dropped_between,dropped_cold" >"$out/loss.csv"
for n in $counts; do
	case $n in
	8) rates=$rates_8 ;;
	1024) rates=$rates_1024 ;;
	*) rates=$(eval echo "\${RATES_$n:?RATES_$n: the rates to try at $n devices}") ;;
	esac
	best=none
	for rate in $rates; do
		dir=$(mktemp -d /tmp/baton-loss.XXXXXX)
		if ! RATE=$rate DEVICES=$n "$here/bench_devices.sh" "$build" "$dir" >/dev/null; then
			echo "$n devices at $rate/s each: the run failed (an update did not end updated)"
			rm -rf "$dir"
			break
		fi
		# devices.csv: ...,updates,generated,received,lost,dropped_start,
		# dropped_in_updates,dropped_between,dropped_cold (one row a mode,
		# the counts over both modes' updates).
		row=$(awk -F, 'NR == 2 { for (i = 9; i <= 16; i++) printf "%s%s", $i, i < 16 ? "," : "\n" }' \
			"$dir/devices.csv")
		rm -rf "$dir"
		lost=$(echo "$row" | awk -F, '{ print $6 + $7 }')
		echo "$n devices at $rate/s each: $row (updates,generated,received,lost,dropped_start," \
		     "dropped_in_updates,dropped_between,dropped_cold): $lost dropped through the updates"
		[ -n "$out" ] && echo "$n,$rate,$row" >>"$out/loss.csv"
		[ "$lost" = 0 ] || break
		best=$rate
	done
	echo "measure: highest rate with zero loss at $n devices: $best packets/s per device"
done
