#!/bin/bash
# kvcache against memcached 1.6.18 in the same run, as a memcached user
# judges it: memccapable (libmemcached-tools), ascii and binary, against
# kvcache-v1, against the same server once `baton update` has made it v2
# (its items converted live), against a fresh kvcache-v2, against a v1
# with four worker threads, and against a real memcached; kvcache must pass
# at least every test memcached passes.  The threaded one is then updated
# twice (exec mode, socket mode) with sixteen connections held across its
# workers, each of which must answer on.
# Then kvcache_vs_memcached.py sends each protocol case to memcached and to
# each kvcache and compares the answers byte for byte.
#
# Every server runs under reap, found below it in /proc, never by name; at
# the end each gets SIGTERM and must exit 0 (memcached too) with no
# sanitizer report, and nothing is left running.  Every wait is bounded;
# the servers are tested in parallel, each by one memccapable at a time
# (each run flushes its server).  TAP output.
#
# usage: test_kvcache_memcached.sh BATON REAP KVCACHE_V1 KVCACHE_V2
set -u
baton=$1 reap=$2 v1=$3 v2=$4
export REAP=${REAP:-$reap}
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/kvcache_serve.sh"

for tool in memcached memccapable memcaslap python3 jq timeout; do
	if ! command -v "$tool" >/dev/null; then
		echo "Bail out! $tool is missing: run scripts/deps as root"
		exit 1
	fi
done

# capable PORT MODE OUT: memccapable -a or -b, its output in OUT.
capable() {
	timeout 100 memccapable -h 127.0.0.1 -p "$1" "-$2" -t 5 >"$3" 2>&1
}

# passed OUT: the names of the run's tests that passed, sorted, one a line.
passed() {
	sed -n 's/[[:space:]]*\[pass\]$//p' "$1" | sort
}

# ---- the servers ----
ctl=$tmp/ctl
serve upd "$v1" --port 0 --memory 16 --control "$ctl"
upd_reaper=$reaper upd_port=$port
serve fresh "$v2" --port 0 --memory 16
fresh_reaper=$reaper fresh_port=$port
# With four worker threads, updated too (below).
thr_ctl=$tmp/thr.ctl
serve thr "$v1" --port 0 --memory 128 --threads 4 --control "$thr_ctl"
thr_reaper=$reaper thr_port=$port
# memcached says nothing when it listens: a free port, then connect until
# it answers.  As root it needs to be told which user to stay.
mc_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_root=
[ "$(id -u)" = 0 ] && as_root="-u root"
# shellcheck disable=SC2086 # -u root is two words
"$reap" -l "$tmp/memcached.procs" -t 110 -- memcached -l 127.0.0.1 -p "$mc_port" -U 0 -m 16 $as_root \
	>"$tmp/memcached.out" 2>"$tmp/memcached.err" &
mc_reaper=$!
reapers="$reapers $mc_reaper"
if [ -n "$upd_port" ] && [ -n "$fresh_port" ] && [ -n "$thr_port" ] &&
   wait_for "memcached to listen" 10 'timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mc_port" 2>/dev/null'; then
	ok "kvcache-v1 ($upd_port), kvcache-v2 ($fresh_port) and memcached ($mc_port) listen"
else
	not_ok "the servers listen"
	tap_done
	exit
fi
memcached -V | sed 's/^/# /'

# ---- memccapable on v1, then the update, then on v2 and memcached ----
# One run at a time on a server: each flushes it.
capable "$upd_port" a "$tmp/v1.a"
capable "$upd_port" b "$tmp/v1.b"
echo "# some items for the conversion to carry"
printf 'set before 0 0 6\r\nupdate\r\nquit\r\n' | timeout 10 nc -N 127.0.0.1 "$upd_port" >/dev/null
expect "update kvcache-v1 -> v2 (exec)" 0 update --socket "$ctl" --to "$v2" --json
check "updated, the items converted" '.outcome == "updated" and (.decisions[] | select(.driver == "kvstore") | .action == "convert")'
holds "the item stored by v1 is there in v2" \
      '[ "$(printf "get before\r\nquit\r\n" | timeout 10 nc -N 127.0.0.1 "$upd_port" | head -n 2 | tr -d "\r" | tail -n 1)" = update ]'

pids=
for run in "upd $upd_port" "fresh $fresh_port" "mc $mc_port" "thr $thr_port"; do
	set -- $run
	{ capable "$2" a "$tmp/$1.a"; capable "$2" b "$tmp/$1.b"; } &
	pids="$pids $!"
done
# shellcheck disable=SC2086 # one pid per word
wait $pids

for mode in a b; do
	[ $mode = a ] && what=ascii || what=binary
	for run in mc v1 upd fresh thr; do
		passed "$tmp/$run.$mode" >"$tmp/$run.$mode.passed"
	done
	mc=$(wc -l <"$tmp/mc.$mode.passed")
	echo "# memccapable $what: memcached $mc/$(grep -c '\[\(pass\|FAIL\)\]' "$tmp/mc.$mode"), kvcache-v1 $(wc -l <"$tmp/v1.$mode.passed"), v2 after the update $(wc -l <"$tmp/upd.$mode.passed"), fresh v2 $(wc -l <"$tmp/fresh.$mode.passed")"
	holds "memccapable $what: memcached passes its tests ($mc)" '[ "$mc" -gt 0 ]'
	for kv in v1 upd fresh thr; do
		case $kv in
		v1) name=kvcache-v1 ;;
		upd) name="kvcache-v2 reached by a live update" ;;
		fresh) name="kvcache-v2" ;;
		thr) name="kvcache-v1 with 4 worker threads" ;;
		esac
		# Test by test: each that memcached passes, not as many.
		got=$(wc -l <"$tmp/$kv.$mode.passed")
		missed=$(comm -23 "$tmp/mc.$mode.passed" "$tmp/$kv.$mode.passed")
		if [ -z "$missed" ]; then
			ok "memccapable $what: $name passes every test memcached passes ($got, memcached $mc)"
		else
			echo "$missed" | sed 's/^/#   memcached passes, not kvcache: /'
			grep -B3 'FAIL' "$tmp/$kv.$mode" | sed 's/^/#   /' | head -30
			not_ok "memccapable $what: $name passes every test memcached passes ($got, memcached $mc)"
		fi
	done
done

# ---- the protocol cases, answer for answer ----
# compare NAME PORT VERSION: kvcache_vs_memcached.py's cases, each a TAP
# line here (v2's with the meta flag l, which v1 refuses).
compare() {
	python3 "$(dirname "$0")/kvcache_vs_memcached.py" "$mc_port" "$2" "$3" >"$tmp/diff" 2>&1
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "$1: ${line#ok - }" ;;
		"not ok - "*) not_ok "$1: ${line#not ok - }" ;;
		*) echo "$line" ;;
		esac
	done <"$tmp/diff"
	holds "$1: every case was compared" '[ "$(grep -c "^\(not \)\?ok - " "$tmp/diff")" -ge 24 ]'
}
compare "kvcache-v2 reached by a live update" "$upd_port" v2
compare "kvcache-v2" "$fresh_port" v2
# v1 too, on a server of its own (the first is v2 now).
serve v1b "$v1" --port 0 --memory 16
v1b_reaper=$reaper
compare "kvcache-v1" "$port" v1
holds "kvcache-v1 refuses mg's l, as memcached a flag it does not know: it keeps no access time" \
      '[ "$(printf "ms l 1\r\nz\r\nmg l l\r\nquit\r\n" | timeout 10 nc -N 127.0.0.1 "$port" | tail -n 1 | tr -d "\r")" = "CLIENT_ERROR invalid flag" ]'

# ---- worker threads through updates ----
# Sixteen connections, spread over the four workers, each holding an item
# of its own; v1 -> v2 in exec mode, then v2 -> v2 in socket mode: every
# connection answers on after each, from whichever worker has it now.
for i in $(seq 10 25); do
	eval "exec $i<>/dev/tcp/127.0.0.1/$thr_port"
	printf 'set held%d 0 0 %d\r\n%d\r\n' "$i" ${#i} "$i" >&"$i"
done
held_ok() { # PHASE: each connection reads its item back
	local i bad=0 line
	for i in $(seq 10 25); do
		printf 'get held%d\r\n' "$i" >&"$i"
		IFS= read -r -t 5 line <&"$i" || bad=1
		[ "${line%$'\r'}" = "VALUE held$i 0 ${#i}" ] || bad=1
		IFS= read -r -t 5 line <&"$i"
		IFS= read -r -t 5 line <&"$i"
	done
	holds "$1: each of the 16 connections answers" '[ "$bad" = 0 ]'
}
for i in $(seq 10 25); do IFS= read -r -t 5 line <&"$i"; done
held_ok "4 threads"
expect "4 threads: update v1 -> v2 (exec)" 0 update --socket "$thr_ctl" --to "$v2" --json
check "updated" '.outcome == "updated"'
held_ok "4 threads, v2 after an exec-mode update"
expect "4 threads: update v2 -> v2 (socket mode)" 0 update --socket "$thr_ctl" --to "$v2" --mode socket --json
check "updated" '.outcome == "updated" and .mode == "socket"'
held_ok "4 threads, v2 in a new process"
# More, exec and socket in turn, under memcaslap's load: the workers park
# and unpark each time (twice per update), and a worker the load keeps
# from waking at once from one round must not hang the next (it did).
timeout 60 memcaslap -s "127.0.0.1:$thr_port" -t 4s -T 2 -c 16 >"$tmp/caslap" 2>&1 &
caslap=$!
for mode in exec socket exec socket exec socket; do
	expect "4 threads, under load: update v2 -> v2 ($mode), again" 0 update --socket "$thr_ctl" --to "$v2" --mode $mode --json
done
wait $caslap
holds "memcaslap ran through the updates: $(grep -o 'TPS: [0-9]*' "$tmp/caslap"), $(grep -o 'get_misses: [0-9]*' "$tmp/caslap")" \
      'grep -q "^get_misses: 0$" "$tmp/caslap" && grep -q "TPS: [1-9]" "$tmp/caslap"'
held_ok "4 threads, after six more updates"
holds "and it serves with 4 threads" \
      'printf "stats\r\nquit\r\n" | timeout 10 nc -N 127.0.0.1 "$thr_port" | grep -q "^STAT threads 4.$"'
for i in $(seq 10 25); do eval "exec $i>&-"; done

# upd: v1 then v2; fresh: v2; v1b: v1; thr: with 4 worker threads.
stop upd "$upd_reaper"
stop fresh "$fresh_reaper"
stop v1b "$v1b_reaper"
stop memcached "$mc_reaper"
stop thr "$thr_reaper"
for s in upd fresh v1b thr; do
	holds "$s said nothing on stderr" '! [ -s "$tmp/$s.err" ]'
done
tap_done
