#!/bin/bash
# kvcache, each version, as its users see it: a real memcached client
# (libmemcached-tools) and the raw text protocol over TCP (netcat), many
# clients at once, hostile input, bad options, a clean stop.  Nothing
# sleeps: the server says when it listens, on a FIFO read with a bound,
# and every client runs under a timeout.  Every kvcache process runs
# under reap, found below it in /proc, never by name: each must end as
# the case made it (a usage error 2, the server 0 on our SIGTERM) with no
# sanitizer report, and none is left running (kvcache_serve.sh).  TAP
# output.
#
# usage: test_kvcache.sh REAP KVCACHE...
# holds() evaluates its condition, so the variables in it are used there:
# shellcheck disable=SC2016,SC2034
set -u
reap=$1
shift

export REAP=${REAP:-$reap}
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/kvcache_serve.sh"

for tool in memccp memccat memcrm memcstat memcexist nc timeout; do
	if ! command -v "$tool" >/dev/null; then
		echo "Bail out! $tool is missing: run scripts/deps as root"
		exit 1
	fi
done
if ! [ -e "/proc/$$/task/$$/children" ]; then
	echo "Bail out! /proc/PID/task/TID/children is missing (CONFIG_PROC_CHILDREN): the test finds the server there"
	exit 1
fi

# ended_well NAME LOG STATUS: the one process in reap's LOG exited with
# STATUS, and reap found no sanitizer report (it exits 125 if it did).
ended_well() {
	if [ "$(grep -c . "$2")" = 1 ] && grep -q "^[0-9]* [^ ]* exit $3\$" "$2" &&
	   ! grep -q ' report [0-9]*$' "$2"; then
		ok "$1"
	else
		sed 's/^/#   process: /' "$2"
		not_ok "$1"
	fi
}

# run NAME STATUS BINARY ARGS...: run a short-lived kvcache under reap
# (10 s at most); it must exit with STATUS.  Its stdout is $tmp/out.
run() {
	what=$1 want=$2
	shift 2
	: >"$tmp/run.procs"
	"$reap" -l "$tmp/run.procs" -t 10 -- "$@" >"$tmp/out" 2>"$tmp/err"
	ended_well "$what" "$tmp/run.procs" "$want"
}

# raw NAME: send $tmp/in on one connection, compare the answer with
# $tmp/want.  The server closes after "quit" or a fatal error.
raw() {
	timeout 10 nc -N 127.0.0.1 "$port" <"$tmp/in" >"$tmp/got" 2>"$tmp/err"
	if cmp -s "$tmp/got" "$tmp/want"; then ok "$1"; else
		echo "# expected:"; od -c "$tmp/want" | sed 's/^/#   /' | head -20
		echo "# got:"; od -c "$tmp/got" | sed 's/^/#   /' | head -20
		not_ok "$1"
	fi
}

mc() { timeout 10 "$@" --servers="127.0.0.1:$port" 2>"$tmp/err"; }

for kv in "$@"; do
	name=$(basename "$kv")
	version=${name#kvcache-v}

	# ---- usage ----
	run "$name: --memory below 2 MiB is a usage error" 2 "$kv" --memory 1
	run "$name: a port out of range is a usage error" 2 "$kv" --port 65536
	run "$name: a port with garbage is a usage error" 2 "$kv" --port 1x
	run "$name: a stray argument is a usage error" 2 "$kv" extra
	run "$name: --threads 0 is a usage error" 2 "$kv" --threads 0
	run "$name: --threads 65 is a usage error" 2 "$kv" --threads 65
	run "$name: --help exits 0" 0 "$kv" --help
	holds "$name: --help tells of --control" 'grep -q -- --control "$tmp/out"'
	holds "$name: --help tells of --threads" 'grep -q -- --threads "$tmp/out"'

	serve "$name" "$kv" --port 0 --memory 8 --control "$tmp/control"
	if [ -z "$port" ]; then
		not_ok "$name listens and says where"
		sed 's/^/# server: /' "$tmp/$name.err"
		# shellcheck disable=SC2046 # one pid per word
		kill -KILL $(descendants "$reaper") 2>/dev/null
		continue
	fi
	ok "$name listens and says where (port $port)"

	# A second server on the same port says why it cannot start.
	run "$name: a port in use fails with exit 1" 1 "$kv" --port "$port" --memory 2
	holds "$name: and says why" 'grep -q "Address already in use" "$tmp/err"'

	# ---- a real memcached client ----
	head -c 200000 /dev/urandom >"$tmp/blob"
	printf 'hello\n' >"$tmp/greeting"
	mc memccp "$tmp/blob" "$tmp/greeting"
	holds "$name: memccp stores two files" '[ $? -eq 0 ]'
	mc memccat --file="$tmp/blob.out" blob
	holds "$name: memccat gets a 200 kB binary value back intact" \
	      '[ $? -eq 0 ] && cmp -s "$tmp/blob" "$tmp/blob.out"'
	mc memccat greeting >"$tmp/out"
	holds "$name: memccat prints a value" \
	      '[ $? -eq 0 ] && [ "$(cat "$tmp/out")" = hello ]'
	mc memcexist greeting
	holds "$name: memcexist finds a key" '[ $? -eq 0 ]'
	mc memcrm greeting
	holds "$name: memcrm deletes a key" '[ $? -eq 0 ]'
	mc memccat greeting >/dev/null
	holds "$name: memccat of a deleted key fails" '[ $? -ne 0 ]'
	# (Not memcexist on a missing key: it probes with "add <key> 0 -1 0",
	# which stores an item already expired, counted as memcached counts it.)
	mc memcstat >"$tmp/stats"
	holds "$name: memcstat reads the stats" '[ $? -eq 0 ] &&
	      grep -q "version: 1\.6\.18-kvcache-v$version-baton" "$tmp/stats" &&
	      grep -q "curr_items: 1$" "$tmp/stats" &&
	      grep -q "limit_maxbytes: 7368704$" "$tmp/stats"'

	# ---- the raw protocol ----
	printf 'VALUE blob 0 200000\r\n' >"$tmp/want"
	cat "$tmp/blob" >>"$tmp/want"
	printf '\r\nEND\r\n' >>"$tmp/want"
	printf 'get blob\r\nquit\r\n' >"$tmp/in"
	raw "$name: a value memccp stored, by hand"

	printf 'set k 7 0 2\r\nhi\r\nset n 0 0 2 noreply\r\n41\r\nincr n 1\r\ndecr n 50\r\nincr k 1\r\nadd k 0 0 1\r\nx\r\ndelete n\r\ndelete n\r\nbogus\r\nget k n\r\nversion\r\nquit\r\nget k\r\n' >"$tmp/in"
	{
		printf 'STORED\r\n42\r\n0\r\n'
		printf 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'
		printf 'NOT_STORED\r\nDELETED\r\nNOT_FOUND\r\nERROR\r\n'
		printf 'VALUE k 7 2\r\nhi\r\nEND\r\n'
	} >"$tmp/want"
	timeout 10 nc -N 127.0.0.1 "$port" <"$tmp/in" >"$tmp/got" 2>"$tmp/err"
	holds "$name: pipelined commands, exact answers, nothing after quit" \
	      'head -n -1 "$tmp/got" | cmp -s - "$tmp/want" &&
	       tail -n 1 "$tmp/got" | grep -q "^VERSION 1\.6\.18-kvcache-v$version-baton[0-9.]*.$"'

	# cas with the unique gets gave.
	unique=$(printf 'gets k\r\nquit\r\n' | timeout 10 nc -N 127.0.0.1 "$port" |
		 sed -n 's/^VALUE k 7 2 \([0-9]*\).*/\1/p')
	printf 'EXISTS\r\nSTORED\r\nVALUE k 1 3\r\nnew\r\nEND\r\n' >"$tmp/want"
	printf 'cas k 0 0 3 %s\r\nold\r\ncas k 1 0 3 %s\r\nnew\r\nget k\r\nquit\r\n' \
	       "$((unique + 1))" "$unique" >"$tmp/in"
	raw "$name: cas with the unique of gets"

	# Hostile input: an endless line gets an error and the connection
	# is closed by the server (nc would otherwise wait for it).
	printf 'CLIENT_ERROR line too long\r\n' >"$tmp/want"
	head -c 100000 /dev/zero | tr '\0' x >"$tmp/in"
	raw "$name: an endless line is refused and closed"
	printf 'CLIENT_ERROR bad command line format\r\nEND\r\n' >"$tmp/want"
	{ printf 'get '; head -c 251 /dev/zero | tr '\0' k; printf '\r\nget k2\r\nquit\r\n'; } >"$tmp/in"
	raw "$name: a 251-byte key is refused"
	printf 'SERVER_ERROR object too large for cache\r\nEND\r\n' >"$tmp/want"
	{ printf 'set big 0 0 2000000\r\n'; head -c 2000000 /dev/zero; printf '\r\nget big\r\nquit\r\n'; } >"$tmp/in"
	raw "$name: a 2 MB value is refused and swallowed"
	printf 'CLIENT_ERROR bad data chunk\r\nVALUE k 1 3\r\nnew\r\nEND\r\n' >"$tmp/want"
	printf 'set k 0 0 2\r\nabcdget k\r\nquit\r\n' >"$tmp/in"
	raw "$name: a bad data block terminator stores nothing"

	# ---- many clients at once ----
	i=0 clients=
	while [ $i -lt 40 ]; do
		printf 'set c%d 0 0 %d\r\n%d\r\nget c%d\r\nquit\r\n' \
		       $i ${#i} $i $i >"$tmp/in$i"
		timeout 10 nc -N 127.0.0.1 "$port" <"$tmp/in$i" >"$tmp/c$i" 2>/dev/null &
		clients="$clients $!"
		i=$((i + 1))
	done
	# shellcheck disable=SC2086 # one pid per word
	wait $clients
	bad=0 i=0
	while [ $i -lt 40 ]; do
		printf 'STORED\r\nVALUE c%d 0 %d\r\n%d\r\nEND\r\n' $i ${#i} $i >"$tmp/want"
		cmp -s "$tmp/c$i" "$tmp/want" || bad=$((bad + 1))
		i=$((i + 1))
	done
	holds "$name: 40 clients at once each get their own answers" '[ "$bad" -eq 0 ]'
	mc memcstat >"$tmp/stats"
	holds "$name: every client was counted and has gone" \
	      'grep -q "curr_connections: 1$" "$tmp/stats" &&
	       grep -q "curr_items: 42$" "$tmp/stats"'

	# ---- a client that reads its answers slowly ----
	# 16 gets of a 512 KiB value pipelined (8 MiB of answers, more than
	# the socket buffers take: 4 MiB at most here), and nothing read
	# until the server has written more than the client took: the
	# answers over KV_OUT_HIGH hold the gets behind them in the server's
	# input, and once those answers have gone out, the gets must go on
	# with no new event to say so.
	PYTHONPATH=$(dirname "$0") python3 - "$port" >"$tmp/slow" 2>&1 <<'EOF2'
import select, socket, sys, time
from kvcache_big import read_answers
port, size, gets = int(sys.argv[1]), 512 * 1024, 16
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"set big 0 0 %d\r\n%s\r\n" % (size, b"v" * size))
assert s.makefile("rb").readline() == b"STORED\r\n"
c = socket.socket()
c.settimeout(10)
c.connect(("127.0.0.1", port))
c.sendall(b"get big\r\n" * gets)
me = c.getsockname()[1]


def server_queue():
    """What the server's end of this connection has not sent yet."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == port and
                    int(fields[2].split(":")[1], 16) == me):
                return int(fields[4].split(":")[0], 16)
    return 0


end = time.monotonic() + 10
while not server_queue() and time.monotonic() < end:
    select.select([], [], [], 0.01)
read_answers(c, size, gets)
s.sendall(b"delete big\r\n")
assert s.makefile("rb").readline() == b"DELETED\r\n"
EOF2
	holds "$name: a client reading slowly gets all 16 answers of 512 KiB: $(cat "$tmp/slow")" \
	      'grep -q "^answers 16 of 16 " "$tmp/slow"'

	stop "$name" "$reaper"
	holds "$name wrote nothing on stderr" '! [ -s "$tmp/$name.err" ]'
	sed 's/^/# server: /' "$tmp/$name.err"
done

tap_done
