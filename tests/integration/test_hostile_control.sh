#!/bin/bash
# kvcache's control socket under hostile clients (hostile_clients.py): a
# thousand connections that never send, a 10 MiB line, garbage, fds sent
# with SCM_RIGHTS, requests cut short.  Meanwhile `baton status` must keep
# answering (a status request within a second), and a memcached client
# (libmemcached-tools) must keep being served, every value right;
# afterwards the program holds as many fds as before (none leaked, the fds
# sent to it closed), and it ends well: every process accounted for by
# reap, exit 0 or our SIGTERM.  TAP output.  bash: arrays of latencies.
#
# usage: test_hostile_control.sh BATON KVCACHE_V1 REAP
set -u
baton=$1 kvcache=$2 reap=$3
. "$(dirname "$0")/tap.sh"
driver_py=$(dirname "$0")/hostile_clients.py
ctl=$tmp/ctl
prog='' reaper='' driver='' mc='' ping='' timer=''

cleanup() {
	for p in $driver $mc $ping $timer; do kill "$p" 2>/dev/null; done
	[ -n "$prog" ] && kill "$prog" 2>/dev/null
	tap_cleanup
}
trap cleanup EXIT

# The idle clients and the program's own fds, with room to spare.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 1200 ]; then
	echo "1..0 # SKIP the hard fd limit is $(ulimit -Hn): 1000 clients need about 1200"
	exit 0
fi


fds() { ls "/proc/$prog/fd" 2>/dev/null | wc -l; }
ms() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

"$reap" -l "$tmp/procs" -t 120 -- "$kvcache" --port 0 --memory 8 --control "$ctl" \
	>"$tmp/server.out" 2>"$tmp/server.err" &
reaper=$!
if ! wait_for "kvcache to listen" 10 'grep -qs "listening on" "$tmp/server.out" &&
	"$baton" status --socket "$ctl" --json >"$tmp/out" 2>/dev/null'; then
	not_ok "kvcache runs and answers status"
	sed 's/^/#   /' "$tmp/server.err"
	tap_done
	exit
fi
check "kvcache runs and answers status" '.state == "running"'
prog=$(jq -r .pid "$tmp/out")
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/server.out")
servers=--servers=127.0.0.1:$port
fds_before=$(fds)

"$driver_py" "$ctl" 60 >"$tmp/driver.out" 2>"$tmp/driver.err" &
driver=$!
if wait_for "the hostile clients to connect" 20 'grep -q "^up" "$tmp/driver.out"'; then
	ok "1000 idle control clients connected"
else
	not_ok "1000 idle control clients connected"
	sed 's/^/#   /' "$tmp/driver.out" "$tmp/driver.err"
fi

# Memcached clients, all along: libmemcached's, a process per request,
# storing a new value and reading it back; and one connection that times
# each request, so that a stall of the program's loop shows.
python3 - "$port" "$tmp/mc.stop" >"$tmp/ping.log" <<'EOF' &
import os, socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
answers = s.makefile("rb")
times, bad = [], 0
while not os.path.exists(sys.argv[2]):
    t0 = time.monotonic()
    s.sendall(b"version\r\n")
    bad += not answers.readline().startswith(b"VERSION ")
    times.append(time.monotonic() - t0)
    time.sleep(0.002)
times.sort()
print(len(times), bad, int(times[len(times) // 2] * 1e6), int(times[-1] * 1e6))
EOF
ping=$!
mkdir "$tmp/mc"
(
	i=0
	while [ ! -e "$tmp/mc.stop" ]; do
		i=$((i + 1))
		key=key$((i % 5))
		want="value-$i-$RANDOM"
		printf '%s' "$want" >"$tmp/mc/$key"
		if ! (cd "$tmp/mc" && timeout 5 memccp "$servers" "$key") 2>>"$tmp/mc.err"; then
			echo "bad $i: memccp $key failed"
		elif got=$(timeout 5 memccat "$servers" "$key" 2>>"$tmp/mc.err") && [ "$got" = "$want" ]; then
			echo "ok $i"
		else
			echo "bad $i: memccat $key gave '$got', stored '$want'"
		fi
	done
) >"$tmp/mc.log" &
mc=$!

# `baton status` every 100 ms, 40 times, under the load, each answer
# checked; and beside it, the same request timed from connect() to the
# answer's end on a connection of its own, 40 times, latencies in µs - not
# `baton status` itself, whose time is mostly starting a process, which
# the load (and a sanitizer's runtime) slows whatever the program does.
python3 - "$ctl" >"$tmp/latencies" <<'PY' &
import socket, sys, time
for _ in range(40):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_UNIX)
    # Blocking: with the hostile clients' thousand connections the
    # listener's backlog can be full, and a connect then waits its turn
    # (with a timeout set it would fail at once, EAGAIN), as baton's does.
    s.connect(sys.argv[1])
    s.settimeout(30)
    s.sendall(b'{"cmd":"status"}\n')
    answer = s.makefile("rb").readline()
    print(int((time.monotonic() - t0) * 1e6) if b'"running"' in answer else "bad")
    s.close()
    time.sleep(0.1)
PY
timer=$!
bad=0
for i in $(seq 40); do
	answer=$("$baton" status --socket "$ctl" --json 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] || ! jq -e '.state == "running"' <<<"$answer" >/dev/null 2>&1; then
		bad=$((bad + 1))
		echo "# status $i: exit $rc: $answer"
	fi
	sleep 0.1
done
wait "$timer" || bad=$((bad + 1))
timer=
mapfile -t latencies <"$tmp/latencies"
if [ "${#latencies[@]}" -ne 40 ] || grep -qv '^[0-9][0-9]*$' "$tmp/latencies"; then
	bad=$((bad + 1))
	echo "# timed requests: $(tr '\n' ' ' <"$tmp/latencies")"
fi
if kill -0 "$driver" 2>/dev/null; then load=on; else load=off; fi
touch "$tmp/mc.stop"
wait "$mc" "$ping"
mc= ping=
kill -TERM "$driver" 2>/dev/null
wait_for "the hostile clients to leave" 10 '! kill -0 "$driver" 2>/dev/null'
wait "$driver"
driver_status=$?
driver=

read -r median max < <(printf '%s\n' "${latencies[@]}" | sort -n |
	awk '{ v[NR] = $1 } END { printf "%d %d\n", v[int((NR + 1) / 2)], v[NR] }')
echo "# status latency under the hostile load: median $(ms "$median") ms, max $(ms "$max") ms (${#latencies[@]} requests)"
holds "every status answered, running ($bad failed)" '[ "$bad" -eq 0 ]'
holds "the slowest status took under 1000 ms" '[ "$max" -lt 1000000 ]'
holds "the hostile load lasted through every status" '[ "$load" = on ]'

echo "# hostile clients: $(tail -1 "$tmp/driver.out")"
if [ "$driver_status" -eq 0 ] && tail -1 "$tmp/driver.out" | jq -e \
	'.idle_closed_by_server > 0 and .stream_cut > 0 and .garbage > 0 and .scm_fds > 0 and .partial > 0' >/dev/null 2>&1; then
	ok "every kind of hostile client ran, and was let go by the server"
else
	not_ok "every kind of hostile client ran, and was let go by the server"
	sed 's/^/#   /' "$tmp/driver.out" "$tmp/driver.err"
fi

read -r pings ping_bad ping_median ping_max <"$tmp/ping.log"
echo "# memcached requests on one connection: ${pings:-none}, median $(ms "${ping_median:-0}") ms, max $(ms "${ping_max:-0}") ms"
holds "each answered right ($ping_bad wrong), the slowest under 1000 ms" \
	'[ "${pings:-0}" -ge 100 ] && [ "$ping_bad" -eq 0 ] && [ "$ping_max" -lt 1000000 ]'

n_ok=$(grep -c '^ok' "$tmp/mc.log")
echo "# memcached client: $n_ok set-and-get rounds"
if [ "$n_ok" -ge 10 ] && ! grep -q '^bad' "$tmp/mc.log"; then
	ok "the memcached client was served all along, every value right"
else
	not_ok "the memcached client was served all along, every value right"
	grep '^bad' "$tmp/mc.log" | head -20 | sed 's/^/#   /'
	sed 's/^/#   /' "$tmp/mc.err" | head -20
fi

if wait_for "kvcache's fds to come back to $fds_before" 10 '[ "$(fds)" -eq "$fds_before" ]'; then
	ok "no fd leaked: $fds_before open, as before"
else
	not_ok "no fd leaked: $(fds) open, $fds_before before"
	ls -l "/proc/$prog/fd" | sed 's/^/#   /' | head -40
fi

kill -TERM "$prog"
wait "$reaper"
if grep -v "^$prog .* signal 15\$" "$tmp/procs" | grep -qv " exit 0\$"; then
	not_ok "every process of the program ended well"
	sed 's/^/#   /' "$tmp/procs"
else
	ok "every process of the program ended well"
fi
prog=
if [ -s "$tmp/server.err" ]; then
	not_ok "kvcache said nothing on stderr"
	sed 's/^/#   /' "$tmp/server.err" | head -20
else
	ok "kvcache said nothing on stderr"
fi

tap_done
