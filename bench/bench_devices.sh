#!/bin/sh
# Blackout of live updates with devices at work, from 1 to 1,024 devices:
# demo-host v2 updating into itself (nicx reads its own pktgen-state v2
# natively) while it drives N pktgen devices from devsim (one devsim
# process per 256), plus an edu; RUNS updates per mode, exec then socket.
# The device counts take turns: ROUNDS rounds, in each every count is set
# up, updated RUNS times a mode and restarted cold, so that a load that
# comes and goes on a shared machine - or this VM's first touches of
# memory the host took back, ~4 ms for a 2 MiB page now and then - weighs
# on every count alike, and the growth from one count to the next is not
# the difference of two moments.  All from one run:
#
#  - the blackout each update reports (FREEZE to FINISH), median;
#  - its floor: a bare exec inheriting the same fds (3 a device) and
#    mapping the same memory in use (the rings), bench_blackout --floor;
#  - where the time goes: the host's phase timestamps (BATON_TRACE,
#    lib/host/trace.c), median of each phase's duration;
#  - a cold restart: the program stopped and started again, devices reset
#    (its connections close), from SIGTERM until the new one is driving
#    every device, and the packets that cost;
#  - devsim's count of the packets it generated against the count the
#    drivers received, over all those updates; and of the packets devsim
#    dropped (a ring full): before the first update (the host's start),
#    while an update ran (from the request to its answer), while none did
#    (the host's steady drain not keeping up), and once the cold restart
#    began.
#
# usage: bench_devices.sh BUILD_DIR [OUT_DIR]   (make bench runs it)
# OUT_DIR gets devices.csv and phases.csv, and blackout.csv gets a row per
# point (bench_blackout.c wrote its header): medians over every round
# (the floor and the cold restart: of the rounds'), packet counts summed.
# RUNS=11 ROUNDS=3 by default; DEVICES="1 16" RUNS=5 ROUNDS=1 for a quick
# look; RATE=N runs every pktgen at N packets/s (bench_loss.sh).
set -eu
build=$1
out=${2:-}
runs=${RUNS:-11}
rounds=${ROUNDS:-3}
counts=${DEVICES:-1 16 256 1024}
baton=$build/tools/baton
devsim=$build/devsim/devsim
host=$build/examples/demo-host/demo-host-v2
floor=$build/bench/bench_blackout
per=256

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
now_ms() { date +%s.%N | awk '{ printf "%.3f", $1 * 1000 }'; }

# ask SOCKET REQUEST: one line to devsim's status socket, one line back.
ask() { printf '%s\n' "$2" | timeout 30 nc -N -U "$1"; }

# dropped: the packets every devsim has dropped so far, its rings full.
dropped() {
	for k in $(seq 0 $((sims - 1))); do
		ask "$dir/status-$k.sock" status
	done | jq -s '[.[].devices[] | select(.type == "pktgen") | .dropped] | add // 0'
}

# phases TRACE: each update's phase durations, "PHASE MS" a line: the time
# from the previous phase, from FREEZE to FINISH (lib/host/trace.c), in
# time order (in socket mode two processes write the trace).
phases() {
	sort -n "$1" | awk '$3 == "freeze" { f = $1; p = $1; on = 1; next }
	     on { printf "%s %.3f\n", $3, ($1 - p) / 1e6; p = $1 }
	     on && $3 == "finish" { on = 0 }'
}

# Packets per second per device: the devsims' 1 ms ticks stay light.
rate_for() { echo "$1" | awk '{ r = int(200000 / $1); print (r > 20000 ? 20000 : r) }'; }

# The rings' memory in use, MiB: what the floor maps (pktgen.c's pool).
pool_mib() {
	echo "$1" | awk '{ s = $1 + 1; if (s < 8) s = 8; if (s > 1024) s = 1024; e = 65536;
			   while (s * e * 64 > 256 * 1048576) e /= 2; print int($1 * e * 64 / 1048576 + 0.5) }'
}

[ -n "$out" ] && mkdir -p "$out" && echo "mode,devices,phase,ms" >"$out/phases.csv" &&
	echo "devices,mode,baton_ms,floor_ms,ratio,per_device_us,cold_ms,cold_lost,updates,generated,received,lost,dropped_start,dropped_in_updates,dropped_between,dropped_cold" >"$out/devices.csv"

# Each point's samples across rounds, kept until the last round is in.
acc=$(mktemp -d /tmp/baton-bench-acc.XXXXXX)
for round in $(seq 1 "$rounds"); do
	for n in $counts; do
		dir=$(mktemp -d /tmp/baton-bench.XXXXXX)
		rate=${RATE:-$(rate_for "$n")}
		mkfifo "$dir/host.out" "$dir/ready"
		sims=$(( (n + per - 1) / per ))
		k=0
		while [ $k -lt "$sims" ]; do
			: >"$dir/devsim-$k.conf"
			[ $k -eq 0 ] && echo "edu@0000:02:00.0" >>"$dir/devsim-$k.conf"
			k=$((k + 1))
		done
		i=0
		while [ $i -lt "$n" ]; do
			printf 'pktgen@0000:%02x:%02x.0,rate=%s\n' $((i < 32 ? 1 : 16 + i / 32)) $((i % 32)) \
				"$rate" >>"$dir/devsim-$((i / per)).conf"
			i=$((i + 1))
		done
		devsim_pids=
		k=0
		while [ $k -lt "$sims" ]; do
			"$devsim" --dir "$dir" --status "$dir/status-$k.sock" --config "$dir/devsim-$k.conf" \
				--ready-fd 3 3>"$dir/ready" 2>"$dir/devsim-$k.log" &
			devsim_pids="$devsim_pids $!"
			timeout 30 cat "$dir/ready" >/dev/null
			k=$((k + 1))
		done
		# The host's last words (its counters) outlive a socket-mode handover:
		# every version writes to the same pipe.
		cat "$dir/host.out" >"$dir/host.json" &
		cat_pid=$!
		BATON_TRACE=$dir/trace "$host" --devsim "$dir" --control "$dir/c.sock" --ready-fd 3 \
			3>"$dir/ready" >"$dir/host.out" 2>"$dir/host.log" &
		timeout 60 cat "$dir/ready" >/dev/null
		"$floor" --floor "$n" "$(pool_mib "$n")" >>"$acc/floor-$n"
		in_updates=0
		since=$(dropped)
		for mode in exec socket; do
			: >"$dir/trace"
			i=0
			while [ $i -lt "$runs" ]; do
				before=$(dropped)
				# The answer read once the update is over: a jq started
				# with it took a CPU from its blackout (~0.9 ms at 1 device).
				"$baton" update --socket "$dir/c.sock" --to "$host" --mode "$mode" --json \
					>"$dir/answer" || true
				jq -re 'select(.outcome == "updated") | "\(.blackout_ms) \(.held_ms)"' \
					"$dir/answer" >"$dir/sample"
				awk '{ print $1 }' "$dir/sample" >>"$acc/samples-$n-$mode"
				awk '{ print $2 }' "$dir/sample" >>"$acc/held-$n-$mode"
				in_updates=$((in_updates + $(dropped) - before))
				i=$((i + 1))
			done
			phases "$dir/trace" >>"$acc/phases-$n-$mode"
		done
		upto=$(dropped)
		between=$((upto - since - in_updates))
		# The cold restart: what the update saves.  SIGTERM, the host reports
		# and exits, its connections close and devsim resets every device; a
		# new one starts and probes them all.
		pid=$("$baton" status --socket "$dir/c.sock" --json | jq .pid)
		t0=$(now_ms)
		kill -TERM "$pid"
		wait "$cat_pid"
		mv "$dir/host.json" "$dir/host-1.json"
		rm -f "$dir/c.sock"
		"$host" --devsim "$dir" --control "$dir/c.sock" --ready-fd 3 \
			3>"$dir/ready" >"$dir/host-2.json" 2>>"$dir/host.log" &
		host2=$!
		timeout 60 cat "$dir/ready" >/dev/null
		t1=$(now_ms)
		echo "$t0 $t1" | awk '{ printf "%.3f\n", $2 - $1 }' >>"$acc/cold-$n"
		# The end: generation paused, the second host drains and reports.
		for k in $(seq 0 $((sims - 1))); do
			ask "$dir/status-$k.sock" pause
		done >"$dir/devsim.json"
		kill -TERM "$host2"
		wait "$host2" || true
		# Every packet devsim generated was received by one host or the other,
		# but for those in the rings when the restart reset the devices.
		set -- $(jq -rs --slurpfile h1 "$dir/host-1.json" --slurpfile h2 "$dir/host-2.json" '
			([.[].devices[] | select(.type == "pktgen")]) as $d |
			($d | map(.generated) | add) as $gen |
			($d | map(.lost_on_reset) | add) as $reset |
			(($h1[0].devices + $h2[0].devices) | map(.received) | add) as $rx |
			($d | map(.dropped) | add) as $dropped |
			"\($gen) \($rx) \($reset) \($gen - $rx - $reset) \($dropped)"' "$dir/devsim.json")
		gen=$1 rx=$2 cold_lost=$3 lost=$4
		# Dropped from the last update on: while the cold restart's new host
		# probed the devices again - its loss, not the updates'.
		dropped_cold=$(($5 - upto))
		echo "$cold_lost" >>"$acc/cold-lost-$n"
		echo "$gen $rx $lost $since $in_updates $between $dropped_cold" >>"$acc/counts-$n"
		echo "  round $round, $n pktgen at $rate/s: $((2 * runs)) updates, $gen packets generated," \
		     "$rx received, lost $lost (dropped with the rings full: $since before the first" \
		     "update, $in_updates while an update ran, $between while none did, $dropped_cold" \
		     "once the cold restart began); cold restart: every device reset, $cold_lost lost in" \
		     "the rings"
		for p in $devsim_pids; do
			kill -TERM "$p"
			wait "$p" || true
		done
		rm -rf "$dir"
	done
done

printf '%-8s %-7s %11s %10s %7s %13s %10s\n' devices mode "blackout ms" "floor ms" ratio \
	"us/device" "cold ms"
for n in $counts; do
	floor_ms=$(median <"$acc/floor-$n")
	cold=$(median <"$acc/cold-$n")
	cold_lost=$(median <"$acc/cold-lost-$n")
	# Packets over every round: generated, received, lost and each kind of drop.
	set -- $(awk '{ for (i = 1; i <= NF; i++) t[i] += $i } END { for (i = 1; i <= 7; i++) printf "%d ", t[i] }' \
		"$acc/counts-$n")
	gen=$1 rx=$2 lost=$3 since=$4 in_updates=$5 between=$6 dropped_cold=$7
	for mode in exec socket; do
		m=$(median <"$acc/samples-$n-$mode")
		eval "m_${mode}_$n=$m"
		awk -v n="$n" -v mode="$mode" -v m="$m" -v f="$floor_ms" -v c="$cold" 'BEGIN {
			printf "%-8s %-7s %11.3f %10.3f %6.2fx %13.1f %10.1f\n", n, mode, m, f, m / f,
			       (m - f) * 1000 / n, c }'
		[ -n "$out" ] || continue
		# The program's hold, from the commit's start to FINISH, as a
		# row of its own: what moved out of the blackout may be in it.
		echo "$mode,$n,held,$(median <"$acc/held-$n-$mode")" >>"$out/phases.csv"
		for ph in $(awk '{ print $1 }' "$acc/phases-$n-$mode" | awk '!seen[$0]++'); do
			pm=$(awk -v p="$ph" '$1 == p { print $2 }' "$acc/phases-$n-$mode" | median)
			echo "$mode,$n,$ph,$pm" >>"$out/phases.csv"
		done
		echo "$n $mode $m $floor_ms $cold $cold_lost $((2 * runs * rounds)) $gen $rx $lost $since $in_updates $between $dropped_cold" |
			awk '{ printf "%s,%s,%s,%s,%.2f,%.1f,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", $1, $2, $3, $4,
				$3 / $4, ($3 - $4) * 1000 / $1, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14 }' \
				>>"$out/devices.csv"
		echo "$mode,$n,$(pool_mib "$n"),1,$m,$floor_ms,,$cold,devices" >>"$out/blackout.csv"
	done
done
# What a device adds to the blackout: from the fewest devices to the most.
first=${counts%% *}
last=${counts##* }
if [ "$first" != "$last" ]; then
	for mode in exec socket; do
		eval "a=\$m_${mode}_$first b=\$m_${mode}_$last"
		awk -v a="$a" -v b="$b" -v f="$first" -v l="$last" -v mode="$mode" 'BEGIN {
			printf "per device, %d to %d, %s: %.2f us\n", f, l, mode, (b - a) * 1000 / (l - f) }'
	done
fi
rm -rf "$acc"
