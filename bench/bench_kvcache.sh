#!/bin/bash
# kvcache against memcached 1.6.18, all from one run:
#
#  - throughput and latency at 1 and 4 threads (kvcache --threads N,
#    memcached -t N): bench/kvload, 16 connections closed-loop, 90% gets
#    and 10% sets of 100-byte values over 10,000 preloaded keys; ops/s,
#    p50 and p99 of each request's latency; the servers take turns, RUNS
#    times, and each figure is the median of its runs, with the ratio
#    kvcache / memcached;
#  - memcaslap (its TPS, 90% gets) and memcslap (seconds to get 32,000
#    keys over 16 connections) against the same servers, medians too,
#    and the median of each run's own ratio to the memcached run beside it
#    (the servers take turns going first); memcaslap's get misses and
#    memcslap's failed runs are counted with kvload's errors;
#  - during live updates: kvcache-v1 --threads 4 under kvload while `baton
#    update` makes it v2 (exec mode) and then updates v2 into itself,
#    socket and exec mode in turn, one update a second: ops/s, p99, the
#    longest request any client waited, against the longest blackout and
#    hold (held_ms: the commit to FINISH) the updates reported and against the longest request of as long a run
#    with no update just before (on busy shared cores the scheduler alone
#    holds a request up for tens of milliseconds); and the errors and
#    misses (there must be none); ops/s and p99 as ratios to that run
#    without updates and to memcached -t 4's medians above.
#
# Every server is started here and stopped here, by pid (the one a
# socket-mode update started, by the pid its control socket gives).  The machine is
# not quiet (two cores, shared): the figures are medians of interleaved
# runs, and the ratios compare servers measured side by side.
#
# usage: bench_kvcache.sh BUILD_DIR   (make bench runs it)
# RUNS=5 SECS=5 by default.
set -u
build=$1
runs=${RUNS:-5}
secs=${SECS:-5}
baton=$build/tools/baton
v1=$build/examples/kvcache/kvcache-v1
v2=$build/examples/kvcache/kvcache-v2
load=$build/bench/kvload
tmp=$(mktemp -d)
pids=

for tool in memcached memcaslap memcslap python3 jq; do
	command -v "$tool" >/dev/null || { echo "bench_kvcache: $tool is missing (scripts/deps)" >&2; exit 1; }
done
for prog in "$baton" "$v1" "$v2" "$load"; do
	[ -x "$prog" ] || { echo "bench_kvcache: $prog is not built (ninja -C $build bench/kvload)" >&2; exit 1; }
done

cleanup() {
	# shellcheck disable=SC2086 # one pid per word
	[ -n "$pids" ] && kill $pids 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# up PORT: wait (10 s at most) until something accepts on 127.0.0.1:PORT.
up() {
	local i=0
	until timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 500 ] || { echo "bench_kvcache: nothing listens on $1" >&2; exit 1; }
		sleep 0.02
	done
}

# kvcache NAME BINARY ARGS...: started, its port in $port.
kvcache() {
	local name=$1 line
	shift
	mkfifo "$tmp/$name.out"
	"$@" --port 0 >"$tmp/$name.out" 2>"$tmp/$name.err" &
	pids="$pids $!"
	exec {fd}<"$tmp/$name.out"
	IFS= read -r -t 10 line <&"$fd" || { echo "bench_kvcache: $name did not start" >&2; exit 1; }
	port=${line##*:}
}

# memcached THREADS: started, its port in $port.
memcached_t() {
	port=$(free_port)
	local as_root=
	[ "$(id -u)" = 0 ] && as_root="-u root"
	# shellcheck disable=SC2086
	memcached -l 127.0.0.1 -p "$port" -U 0 -m 1024 -t "$1" $as_root &
	pids="$pids $!"
	up "$port"
}

printf 'kvcache against memcached %s, %s runs of %s s each, medians (%s, %s cores)\n\n' \
	"$(memcached -V | cut -d' ' -f2)" "$runs" "$secs" "$(uname -r)" "$(nproc)"
printf '%-8s %-10s %10s %8s %8s %11s %9s\n' threads server "ops/s" p50_us p99_us memcaslap memcslap_s

for t in 1 4; do
	memcached_t "$t"; mc=$port
	kvcache "kv$t" "$v2" --memory 1024 --threads "$t"; kv=$port
	"$load" --port "$mc" --preload --seconds 1 >/dev/null
	"$load" --port "$kv" --preload --seconds 1 >/dev/null
	for r in $(seq "$runs"); do
		# Taking turns, first one then the other: the load of the
		# others' work on these cores drifts within a run.
		order="mc kv"
		[ $((r % 2)) = 0 ] && order="kv mc"
		for s in $order; do
			eval "p=\$$s"
			"$load" --port "$p" --seconds "$secs" >>"$tmp/$s$t.load"
			timeout 60 memcaslap -s "127.0.0.1:$p" -t "${secs}s" -T 2 -c 16 >"$tmp/caslap.out" 2>/dev/null
			sed -n 's/.*TPS: \([0-9]*\).*/\1/p' "$tmp/caslap.out" >>"$tmp/$s$t.caslap"
			sed -n 's/^get_misses: \([0-9]*\)$/\1/p' "$tmp/caslap.out" >>"$tmp/$s$t.misses"
			timeout 60 memcslap --servers="127.0.0.1:$p" --concurrency=16 \
				--execute-number=2000 --test=get >"$tmp/cslap.out" 2>&1 ||
				echo "$s$t" >>"$tmp/cslap.failed"
			sed -n 's/.*Time to get .* \([0-9.]*\) seconds.*/\1/p' "$tmp/cslap.out" >>"$tmp/$s$t.cslap"
		done
	done
	for s in mc kv; do
		[ $s = mc ] && name=memcached || name=kvcache
		ops=$(field ops_s <"$tmp/$s$t.load" | median)
		p50=$(field p50_us <"$tmp/$s$t.load" | median)
		p99=$(field p99_us <"$tmp/$s$t.load" | median)
		cas=$(median <"$tmp/$s$t.caslap")
		csl=$(median <"$tmp/$s$t.cslap")
		printf '%-8s %-10s %10s %8s %8s %11s %9s\n' "$t" "$name" "$ops" "$p50" "$p99" "$cas" "$csl"
		eval "${s}_ops=$ops ${s}_p99=$p99 ${s}_cas=$cas ${s}_csl=$csl"
	done
	# The median of each run's ratio to memcached's run beside it: on
	# shared cores a run's figure moves by tens of percent with the
	# others' load, which both servers of a run see alike.
	paired() { paste "$1" "$2" | awk -v inv="$3" '{ print inv ? $2 / $1 : $1 / $2 }' | median; }
	field ops_s <"$tmp/kv$t.load" >"$tmp/kv$t.ops"
	field ops_s <"$tmp/mc$t.load" >"$tmp/mc$t.ops"
	printf '%-8s %-10s %9.2fx %8s %8s %10.2fx %8.2fx   (the median of the runs\x27 own ratios)\n' "$t" paired \
		"$(paired "$tmp/kv$t.ops" "$tmp/mc$t.ops" 0)" "" "" \
		"$(paired "$tmp/kv$t.caslap" "$tmp/mc$t.caslap" 0)" "$(paired "$tmp/kv$t.cslap" "$tmp/mc$t.cslap" 1)"
	# kvload's errors, memcaslap's get misses and failed memcslap runs,
	# both servers': there must be none.
	errs=$(cat "$tmp"/*"$t".load | field errors | awk '{ s += $1 } END { print s + 0 }')
	errs=$((errs + $(cat "$tmp"/*"$t".misses 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')))
	errs=$((errs + $(cat "$tmp/cslap.failed" 2>/dev/null | grep -c "$t\$")))
	awk -v a="$kv_ops" -v b="$mc_ops" -v c="$kv_p99" -v d="$mc_p99" -v e="$kv_cas" -v f="$mc_cas" \
	    -v g="$kv_csl" -v h="$mc_csl" -v t="$t" -v errs="$errs" 'BEGIN {
		printf "%-8s %-10s %9.2fx %8s %7.2fx %10.2fx %8.2fx   (kvcache / memcached; memcslap: memcached time / kvcache; %d errors and misses)\n",
		       t, "ratio", a / b, "", c / d, e / f, h / g, errs }'
	# shellcheck disable=SC2086 # one pid per word
	kill $pids 2>/dev/null
	wait 2>/dev/null
	pids=
done

# ---- during live updates ----
ctl=$tmp/ctl
kvcache upd "$v1" --memory 1024 --threads 4 --control "$ctl"; kv=$port
"$load" --port "$kv" --preload --seconds 1 >/dev/null
"$load" --port "$kv" --seconds $((secs * 2 + 2)) >"$tmp/quiet.load"
"$load" --port "$kv" --preload --seconds $((secs * 2 + 2)) >"$tmp/upd.load" &
loader=$!
to=$v2 mode=exec n=0
while kill -0 "$loader" 2>/dev/null && [ $n -lt $((secs * 2)) ]; do
	sleep 1
	"$baton" update --socket "$ctl" --to "$to" --mode "$mode" --json >>"$tmp/upd.json" 2>/dev/null
	[ $mode = exec ] && mode=socket || mode=exec
	n=$((n + 1))
done
wait "$loader"
# A socket-mode update leaves a new process, not the one started here.
last=$("$baton" status --socket "$ctl" --json 2>/dev/null | jq -r '.pid // empty')
[ -n "$last" ] && pids="$pids $last"
updated=$(jq -s '[.[] | select(.outcome == "updated")] | length' "$tmp/upd.json")
blackout=$(jq -s '[.[] | .blackout_ms // 0] | max' "$tmp/upd.json")
blackout_med=$(jq -s '[.[] | .blackout_ms // 0] | sort | .[length / 2 | floor]' "$tmp/upd.json")
held=$(jq -s '[.[] | .held_ms // 0] | max' "$tmp/upd.json")
held_med=$(jq -s '[.[] | .held_ms // 0] | sort | .[length / 2 | floor]' "$tmp/upd.json")
printf '\nduring %s live updates of kvcache --threads 4 (v1 -> v2, then v2 -> v2 socket/exec, 1 a second), kvload for %s s:\n' \
	"$updated" $((secs * 2 + 2))
quiet=$(field max_us <"$tmp/quiet.load")
quiet_ops=$(field ops_s <"$tmp/quiet.load") quiet_p99=$(field p99_us <"$tmp/quiet.load")
awk -v b="$blackout" -v bm="$blackout_med" -v h="$held" -v hm="$held_med" -v q="$quiet" \
    -v qo="$quiet_ops" -v qp="$quiet_p99" -v mo="$mc_ops" -v mp="$mc_p99" '{
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	printf "  ops/s %s, p99 %s us, longest request %.1f ms (%.1f ms in as long a run without updates just before); blackout reported: median %.1f ms, longest %.1f ms; the program held (commit to FINISH): median %.1f ms, longest %.1f ms; %s errors, %s misses\n",
	       f["ops_s"], f["p99_us"], f["max_us"] / 1000, q / 1000, bm, b, hm, h, f["errors"], f["misses"]
	printf "  ratio: ops/s %.2fx, p99 %.2fx the run without updates (%s ops/s, p99 %s us); ops/s %.2fx, p99 %.2fx memcached -t 4 above (no update: it has none)\n",
	       f["ops_s"] / qo, f["p99_us"] / qp, qo, qp, f["ops_s"] / mo, f["p99_us"] / mp }' "$tmp/upd.load"
