#!/bin/sh
# Blackout of live updates with devices at work: demo-host v2 updating into
# itself (nicx reads its own pktgen-state v2 natively) while it drives N
# pktgen devices from devsim at 20000 packets/s each, plus an edu; RUNS
# updates per mode, exec then socket.  Medians of the blackout each update
# reports (FREEZE to FINISH), all from one run; then devsim's count of the
# packets it generated against the count the drivers received, over all
# those updates.
#
# usage: bench_devices.sh BUILD_DIR   (make bench runs it)
set -eu
build=$1
runs=${RUNS:-21}
baton=$build/tools/baton
devsim=$build/devsim/devsim
host=$build/examples/demo-host/demo-host-v2

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ask SOCKET REQUEST: one line to devsim's status socket, one line back.
ask() { printf '%s\n' "$2" | timeout 10 nc -N -U "$1"; }

printf '%-8s %-7s %14s %14s\n' devices mode "blackout (ms)" "vs 1 device"
for n in 1 8; do
	dir=$(mktemp -d /tmp/baton-bench.XXXXXX)
	mkfifo "$dir/ready" "$dir/host.out"
	set -- --dir "$dir" --ready-fd 3 --device edu@0000:02:00.0
	i=0
	while [ $i -lt $n ]; do
		set -- "$@" --device "pktgen@0000:01:0$i.0,rate=20000"
		i=$((i + 1))
	done
	"$devsim" "$@" 3>"$dir/ready" 2>"$dir/devsim.log" &
	devsim_pid=$!
	timeout 10 head -n 1 "$dir/ready" >/dev/null
	# The host's last words (its counters) outlive a socket-mode handover:
	# every version writes to the same pipe.
	cat "$dir/host.out" >"$dir/host.json" &
	cat_pid=$!
	"$host" --devsim "$dir" --control "$dir/c.sock" --ready-fd 3 \
		3>"$dir/ready" >"$dir/host.out" 2>"$dir/host.log" &
	timeout 10 head -n 1 "$dir/ready" >/dev/null
	for mode in exec socket; do
		: >"$dir/samples"
		i=0
		while [ $i -lt "$runs" ]; do
			"$baton" update --socket "$dir/c.sock" --to "$host" --mode "$mode" --json |
				jq -e 'select(.outcome == "updated") | .blackout_ms' >>"$dir/samples"
			i=$((i + 1))
		done
		m=$(median <"$dir/samples")
		eval "m_${mode}_$n=$m"
		base=$(eval echo "\$m_${mode}_1")
		printf '%-8s %-7s %14.3f %13.2fx\n' "$n" "$mode" "$m" \
			"$(echo "$m $base" | awk '{ print $1 / $2 }')"
	done
	ask "$dir/status.sock" pause >"$dir/devsim.json"
	pid=$("$baton" status --socket "$dir/c.sock" --json | jq .pid)
	kill -TERM "$pid"
	timeout 10 tail --pid="$cat_pid" -f /dev/null
	jq -rs --arg n "$n" '
		(.[0].devices | map(select(.type == "pktgen")) | map(.generated) | add) as $gen |
		(.[1].devices | map(.received) | add) as $rx |
		"  \($n) pktgen: \(2 * '"$runs"') updates, \($gen) packets generated, \($rx) received, lost \($gen - $rx)"' \
		"$dir/devsim.json" "$dir/host.json"
	kill -TERM "$devsim_pid"
	wait "$devsim_pid" || true
	rm -rf "$dir"
done
