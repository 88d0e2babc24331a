#!/bin/bash
# A full cache through a live update: kvcache-v1 (--memory 384, two worker
# threads) is filled with 256 MiB of items by a client over the text
# protocol (254,000 items of 1000 bytes, each its own value), then updated
# to v2 - whose item layout differs, so every item is converted - while
# memcslap runs its sets and a probe times one request after
# another.  Then:
#
#  - every one of the 254,000 items reads back with its value;
#  - limit_maxbytes has not shrunk (the configured memory is kept);
#  - memcslap and the probe saw no error, and no item was evicted;
#  - the conversion ran after the take-over, lazily: v1's region is still
#    there when the update returns and gone once every item has come over;
#  - the longest request the probe waited, from just before the update
#    until the conversion is over, is at most how long the update reported
#    it held the program (held_ms: the commit, where the workers park, to
#    FINISH) plus twice the longest it waited under the same load with no
#    update, in windows before and after (memcslap's sets and every item
#    read back, at least as long in all as the update's): on busy shared
#    cores the scheduler alone holds a request up for tens of
#    milliseconds, and a request the update holds is exposed to it twice
#    outside the hold: before it (its worker, and the main thread parking
#    the workers, must get a CPU) and after FINISH (the new version's main
#    thread, which answers it before anything else, can be preempted).  A conversion that held the clients up, or a free of
#    the old memory, would show on top.  The probe lists its requests over
#    5 ms, and the test prints the longest against the update's phases
#    (BATON_TRACE, the same clock) and how many waited over 20 ms in each
#    window.
#
# Every server runs under reap, every wait is bounded.  TAP output.
#
# usage: test_kvcache_256m.sh BATON REAP KVCACHE_V1 KVCACHE_V2
set -u
baton=$1 reap=$2 v1=$3 v2=$4
export REAP=${REAP:-$reap}
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/kvcache_serve.sh"
fill=$(dirname "$0")/kvcache_fill.py
items=254000

for tool in memcslap python3 jq nc timeout; do
	command -v "$tool" >/dev/null || { echo "Bail out! $tool is missing: run scripts/deps as root"; exit 1; }
done

stat_of() { # NAME: one of the server's stats
	printf 'stats\r\nquit\r\n' | timeout 10 nc -N 127.0.0.1 "$port" |
		sed -n "s/^STAT $1 \\([0-9]*\\).*/\\1/p"
}

# labels: the program's regions' labels, in baton status's order, read
# from its text by bash alone: it is asked while the probe times requests,
# and jq's start takes ~20 ms of a CPU here (perf stat).
labels() {
	local line out=
	while IFS= read -r line; do
		[[ $line =~ ^\ \ region\ \"([^\"]*)\" ]] && out="$out ${BASH_REMATCH[1]}"
	done < <("$baton" status --socket "$ctl" 2>/dev/null)
	echo "${out# }"
}

ctl=$tmp/ctl
# (Not "out" or "err": tap.sh's expect writes baton's $tmp/out, $tmp/err.)
serve_limit=300 BATON_TRACE=$tmp/trace serve srv "$v1" --port 0 --memory 384 --threads 2 --control "$ctl"
[ -n "$port" ] || { echo "Bail out! kvcache-v1 did not start: $(cat "$tmp/srv.err")"; exit 1; }
ok "kvcache-v1 listens on $port"

got=$(python3 "$fill" fill "$port" "$items" 2>"$tmp/fill.err")
holds "$items items stored ($got)" '[ "$got" = "$items" ]'
bytes=$(stat_of bytes) limit=$(stat_of limit_maxbytes)
holds "they fill 256 MiB: $bytes bytes, none evicted" \
      '[ "$bytes" -ge $((256 << 20)) ] && [ "$(stat_of evictions)" = 0 ]'

# load NAME [SECONDS]: memcslap's sets ($tmp/slap.NAME, pid $slap) and the
# probe ($tmp/probe.NAME, pid $probe, until $tmp/stop.NAME exists and, if
# given, SECONDS have passed), started.
load() {
	timeout 120 memcslap --servers="127.0.0.1:$port" --concurrency=8 --execute-number=10000 \
		--test=set >"$tmp/slap.$1" 2>&1 &
	slap=$!
	python3 "$fill" probe "$port" "$tmp/stop.$1" ${2:+"$2"} >"$tmp/probe.$1" 2>&1 &
	probe=$!
	ready=$tmp/stop.$1.ready
	wait_for "the probe to start" 10 '[ -e "$ready" ]'
}

# The same load with no update: memcslap, the probe, every item read back.
load quiet
python3 "$fill" verify "$port" "$items" >/dev/null
touch "$tmp/stop.quiet"
wait $probe
wait $slap
read -r quiet _ <"$tmp/probe.quiet"

# memcslap and the probe run through the update.
load update
expect "update v1 -> v2 (exec), the items converted" 0 update --socket "$ctl" --to "$v2" --json
kill -0 "$slap" 2>/dev/null && slap_through=yes || slap_through=no
# What the update answered ($tmp/out) is looked at once the probe has
# stopped: the test's own work is not to be timed as the update's.
after=$(labels)
# Every item read back while the conversion runs, and the probe on until
# it is over and v1's memory given back (looked at every 0.1 s: each look
# starts a baton, and the probe times what it takes of the CPUs).
read -r good bad < <(python3 "$fill" verify "$port" "$items")
wait_every=0.1 wait_for "v1's region to go" 60 '[ "$(labels)" = items-v2 ]'
region_gone=$?
touch "$tmp/stop.update"
wait $probe
wait $slap
slap_status=$?
check "updated" '.outcome == "updated"'
holds "memcslap was still running when the update returned" '[ "$slap_through" = yes ]'
blackout=$(jq -r .blackout_ms "$tmp/out")
held=$(jq -r '.held_ms // .blackout_ms' "$tmp/out")
holds "the conversion runs after the take-over: v1's region is there when the update returns ($after)" \
      '[ "$after" = "items-v2 items-v1" ] || [ "$after" = "items-v1 items-v2" ]'
holds "every one of the $items items reads back with its value (good $good, bad $bad)" \
      '[ "$good" = "$items" ]'
if [ "$region_gone" = 0 ]; then
	ok "v1's region goes once every item has come over"
else
	not_ok "v1's region goes once every item has come over: $(labels)"
fi
sed -n 's/^Time to set  *\([0-9]* keys\).*: *\([0-9.]* seconds\).*/# memcslap set \1 in \2 through the update/p' "$tmp/slap.update"
read -r stall requests errors stall_at update_s <"$tmp/probe.update"
holds "the probe saw no error ($errors), memcslap neither (exit $slap_status)" \
      '[ "$errors" = 0 ] && [ "$slap_status" = 0 ] && ! grep -qi "error\|fail" "$tmp/slap.update"'
holds "limit_maxbytes is kept: $limit before, $(stat_of limit_maxbytes) after" \
      '[ "$(stat_of limit_maxbytes)" -ge "$limit" ]'
holds "no item was evicted" '[ "$(stat_of evictions)" = 0 ]'
holds "curr_items counts them all ($(stat_of curr_items))" '[ "$(stat_of curr_items)" -ge "$items" ]'

# The same load with no update again, the probe on until the quiet
# windows are as long in all as the update's: the scheduler's share of the
# waits, measured around the update.
read -r _ _ _ _ quiet_s <"$tmp/probe.quiet"
load after "$(awk -v q="$quiet_s" -v u="$update_s" 'BEGIN { print u - q }')"
python3 "$fill" verify "$port" "$items" >/dev/null
touch "$tmp/stop.after"
wait $probe
wait $slap
read -r after _ _ _ after_s <"$tmp/probe.after"
quiet_max=$(awk -v a="$quiet" -v b="$after" 'BEGIN { print (a > b ? a : b) }')
echo "# the longest of $requests requests from just before the update until the conversion was over ($update_s s): $stall ms; the update held the program $held ms, its blackout $blackout ms; with no update, under the same load: $quiet ms before ($quiet_s s), $after ms after ($after_s s)"
# Where the longest requests were in the update (BATON_TRACE's phases, on
# the same clock), and how many waited over 20 ms in each window.
awk '$3 == "commit" || $3 == "freeze" || $3 == "finish" { t[$3] = $1 }
	FILENAME != ARGV[1] && $1 == "long" { n++; l[n] = $2 " " $3 }
	END {
		for (i = 1; i <= n; i++) { split(l[i], f, " "); ms[i] = f[2]; at[i] = f[1] }
		for (k = 0; k < 3 && k < n; k++) {
			m = 0; for (i = 1; i <= n; i++) if (ms[i] > ms[m]) m = i
			printf "# %.1f ms, sent %+.1f ms from COMMIT (FREEZE %+.1f, FINISH %+.1f), answered %+.1f ms from FINISH\n",
			       ms[m], (at[m] - t["commit"]) / 1e6, (t["freeze"] - t["commit"]) / 1e6,
			       (t["finish"] - t["commit"]) / 1e6, (at[m] - t["finish"]) / 1e6 + ms[m]
			ms[m] = -1
		}
	}' "$tmp/trace" "$tmp/probe.update" 2>/dev/null
for w in quiet update after; do
	awk -v w=$w 'NR == 1 { s = $5 } $1 == "long" && $3 > 20 { n++ }
		END { printf "# %s: %d requests over 20 ms in %.1f s\n", w, n, s }' "$tmp/probe.$w"
done
holds "the longest request ($stall ms) is within the hold ($held ms) and twice the scheduler's longest ($quiet_max ms)" \
      'awk -v s="$stall" -v b="$held" -v q="$quiet_max" "BEGIN { exit !(s <= b + 2 * q) }"'

stop srv "$reaper"
holds "kvcache said nothing on stderr" '! [ -s "$tmp/srv.err" ]'
tap_done
