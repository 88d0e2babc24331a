#!/bin/sh
# devsim as its users see it: options and config files, the status socket
# (checked with jq), hostile vfio-user clients that must neither crash it
# nor disturb the other devices, clients that hang up before their answer
# (no SIGPIPE may kill devsim), and a clean stop that unlinks every socket.
# Nothing sleeps: devsim says when it listens (--ready-fd, read with a
# bound) and every client bounds its own waits.  TAP output.
#
# usage: test_devsim.sh DEVSIM DEVSIM_CLIENT
# check() evaluates its condition, so the variables in it are used there:
# shellcheck disable=SC2016
set -u
devsim=$1 client=$2

. "$(dirname "$0")/tap.sh"

for tool in jq timeout; do
	if ! command -v "$tool" >/dev/null; then
		echo "Bail out! $tool is missing: run scripts/deps as root"
		exit 1
	fi
done

EDU=0000:00:04.0 PKT=0000:00:05.0 LEG=0000:00:06.0
dir=$tmp/sockets

# start ARGS...: run devsim on $dir, wait (10 s at most) for "ready".
start() {
	rm -f "$tmp/ready"
	mkfifo "$tmp/ready"
	"$devsim" --dir "$dir" --ready-fd 3 "$@" 3>"$tmp/ready" 2>"$tmp/devsim.err" &
	pid=$!
	ready=$(timeout 10 head -n 1 "$tmp/ready")
}

status() { "$client" status "$dir/status.sock" "$1" >"$tmp/out" 2>"$tmp/err"; }
hostile() { "$client" hostile "$dir/$1.sock" "$2" >"$tmp/out" 2>"$tmp/err"; }

# ---- usage ----
"$devsim" >/dev/null 2>"$tmp/err"
holds "no --dir is a usage error" '[ $? -eq 2 ]'
"$devsim" --dir "$tmp/x" >/dev/null 2>"$tmp/err"
holds "no device is a usage error" '[ $? -eq 2 ]'
for bad in 'nic@0000:00:01.0' 'edu@0000:00:20.0' 'edu' 'edu@0000:00:01.0,rate=5' \
	   'pktgen@0000:00:01.0,rate=x' 'pktgen@0000:00:01.0,speed=1'; do
	"$devsim" --dir "$tmp/x" --device "$bad" >/dev/null 2>"$tmp/err"
	holds "bad SPEC '$bad' is a usage error" '[ $? -eq 2 ] && [ -s "$tmp/err" ]'
done
"$devsim" --dir "$tmp/x" --device edu@0000:00:01.0 --device legacy@0000:00:01.0 \
	>/dev/null 2>"$tmp/err"
holds "an address used twice is a usage error" '[ $? -eq 2 ]'
"$devsim" --dir "$tmp/x" --config "$tmp/none" >/dev/null 2>"$tmp/err"
holds "a missing config file is an error" '[ $? -eq 2 ]'
holds "nothing was created" '! [ -e "$tmp/x" ]'

# ---- start from a config file and an option ----
cat >"$tmp/devsim.conf" <<CONF
# the test's devices
edu@$EDU
  pktgen@$PKT,rate=1000   # slow: the status counters are checked
CONF
start --config "$tmp/devsim.conf" --device "legacy@$LEG"
holds "devsim says it is ready" '[ "$ready" = ready ]'
holds "one socket per device and the status socket" \
	'[ -S "$dir/$EDU.sock" ] && [ -S "$dir/$PKT.sock" ] && [ -S "$dir/$LEG.sock" ] && [ -S "$dir/status.sock" ]'

status status
check "status lists the three devices in order" \
	'[.devices[].address] == ["'$EDU'","'$PKT'","'$LEG'"]'
check "status: types, nobody connected, no resets" \
	'[.devices[].type] == ["edu","pktgen","legacy"] and all(.devices[]; .connected == false and .resets == 0)'
check "status: pktgen counters" \
	'.devices[1] | .enabled == false and .generated == 0 and .written == 0 and .dropped == 0 and .lost_on_reset == 0 and .head == 0 and .tail == 0 and .rate == 1000'
check "status: edu and legacy counters" \
	'(.devices[0] | .factorials == 0 and .dmas == 0 and .irqs == 0) and .devices[2].scratch == 0'
status pause
check "pause answers with the status, paused" '.paused == true and (.devices | length) == 3'
status resume
check "resume answers with the status, running" '.paused == false'
status "wait-generated 10 100"
check "wait-generated with no enabled pktgen is satisfied at once" '.devices | length == 3'
status "frobnicate"
check "an unknown request is an error" '.error == "unknown request"'
status "wait-generated ten 100"
check "a malformed wait is an unknown request" '.error == "unknown request"'
status "reset 0000:00:1f.0"
check "reset of an address devsim does not serve is an error" '.error == "no such device"'
status "reset $EDU"
check "reset of a device resets it, and says so in its count" "[.devices[] | select(.address == \"$EDU\") | .resets] == [1]"

# ---- hostile clients: each leaves devsim serving ----
# After each scenario, "probe" connects to the device again and asks for the
# status while connected: devsim accepts a new client only after the old
# one's reset, so the count is exact.  The probe's own close is one more.
resets=1	# the reset asked above
probe() {
	"$client" probe "$dir/$1.sock" "$dir/status.sock" >"$tmp/out" 2>"$tmp/err"
}
for s in truncated-header size-small size-huge unknown-command dma-read \
	 region-beyond region-write-short dma-map-nofd set-irqs-short stray-fd \
	 irq-full mid-message before-version bad-major bad-json framing second-connection; do
	hostile "$EDU" "$s"
	holds "hostile $s: devsim answered as it must" '[ $? -eq 0 ]'
	probe "$EDU"
	resets=$((resets + 1))
	check "hostile $s: devsim serves again, the device was reset once" \
		".devices[0].connected == true and .devices[0].resets == $resets"
	resets=$((resets + 1))
done
holds "devsim is still running" 'kill -0 "$pid"'
hostile "$LEG" framing
holds "another device serves meanwhile" '[ $? -eq 0 ]'
holds "hostile input was logged" 'grep -q "cannot be framed" "$tmp/devsim.err"'
holds "the second connection was logged" 'grep -q "second connection refused" "$tmp/devsim.err"'

# ---- clients that hang up before their answer ----
# devsim is stopped while each client sends and closes, so the answer
# surely goes to a closed socket: EPIPE, and SIGPIPE unless devsim asks not.
kill -STOP "$pid"
"$client" hangup "$dir/status.sock" status 2>"$tmp/err"
holds "a status client sends its request and hangs up" '[ $? -eq 0 ]'
kill -CONT "$pid"
status status
check "devsim answers the next status client" '.devices | length == 3'
holds "devsim is still running after a status client hung up" 'kill -0 "$pid"'
kill -STOP "$pid"
hostile "$EDU" hangup
holds "a vfio-user client sends VERSION and hangs up" '[ $? -eq 0 ]'
kill -CONT "$pid"
probe "$EDU"
resets=$((resets + 1))
check "devsim serves the device again, reset once" \
	".devices[0].connected == true and .devices[0].resets == $resets"
resets=$((resets + 1))
holds "devsim is still running after a vfio-user client hung up" 'kill -0 "$pid"'
holds "the reply met the closed socket: EPIPE, logged" \
	'grep -q "reply: Broken pipe" "$tmp/devsim.err"'

# ---- a clean stop ----
kill -TERM "$pid"
wait "$pid"
st=$?
pid=
holds "SIGTERM: exit 0" '[ "$st" -eq 0 ]'
holds "every socket unlinked" '[ -z "$(ls -A "$dir")" ]'

# ---- a second devsim on the same directory after a crash ----
start --device "edu@$EDU"
kill -KILL "$pid"
wait "$pid" 2>/dev/null
pid=
start --device "edu@$EDU"
holds "a restart over stale sockets works" '[ "$ready" = ready ]'
status status
check "and serves" '.devices[0].address == "'$EDU'"'
kill -INT "$pid"
wait "$pid"
st=$?
pid=
holds "SIGINT: exit 0" '[ "$st" -eq 0 ]'

# ---- scale: more devices than the fd limit allows, said at start ----
i=0
while [ $i -lt 20 ]; do
	printf 'pktgen@0000:01:%02x.0\n' $i
	i=$((i + 1))
done >"$tmp/many.conf"
sh -c 'ulimit -n 64 && exec "$@"' sh "$devsim" --dir "$tmp/many" --config "$tmp/many.conf" \
	2>"$tmp/err"
holds "20 devices under a limit of 64 fds: exit 1, saying what they need and the limit" \
	'[ $? -eq 1 ] && grep -q "^devsim: Too many open files: 20 devices need up to 136 fds, the limit is 64" "$tmp/err" &&
	 ! [ -e "$tmp/many" ]'
# Each device in one process and two, both serving one directory, each with
# its own status socket.
start --device "edu@$EDU" --status "$tmp/first.sock"
first=$pid
start --device "pktgen@$PKT" --status "$tmp/second.sock"
holds "two devsims serve one directory, each with its own status socket" \
	'[ "$ready" = ready ] && [ -S "$dir/$EDU.sock" ] && [ -S "$dir/$PKT.sock" ] &&
	 [ -S "$tmp/first.sock" ] && [ -S "$tmp/second.sock" ] && ! [ -e "$dir/status.sock" ]'
"$client" status "$tmp/second.sock" status >"$tmp/out" 2>"$tmp/err"
check "the second answers for its own device" '(.devices | length) == 1 and .devices[0].type == "pktgen"'
kill -TERM "$pid" "$first"
wait "$pid"
st=$?
wait "$first"
st2=$?
holds "both exit 0" '[ "$st" -eq 0 ] && [ "$st2" -eq 0 ]'
pid=

tap_done
