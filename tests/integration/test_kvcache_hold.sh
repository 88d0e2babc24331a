#!/bin/bash
# kvcache --threads 4 while an update's commit holds its main thread, and
# after an update given up once its workers are parked.
#
#  1. The commit held at its start (BATON_FAULT=commit:hold@old: the main
#     thread waits there for the test's word, the workers run on).  While
#     it is held: a get is answered, a set is stored, half a set is sent,
#     and a client that quits sees its connection closed - by its worker,
#     not when the main thread comes back.  Released, the update to v2
#     (exec mode) goes through; the half set, completed on the same
#     connection, is stored by v2, and the held clients go on.  The update
#     reports held_ms - the program's thread in the update, from the
#     commit's start to FINISH - at least as long as the test held it, and
#     at least the blackout (FREEZE to FINISH).
#  2. An update given up at FREEZE (BATON_FAULT=freeze:error@old), after
#     the prepare hook has parked the workers and saved the connections:
#     v1 answers on each of four connections, one a worker, and a set sent
#     half before the update and half after is stored.
#
# Each server runs under reap, which accounts for every process it leads
# to; every wait is bounded, nothing sleeps.  TAP output.  bash: the
# connections are /dev/tcp.
#
# usage: test_kvcache_hold.sh BATON KVCACHE_V1 KVCACHE_V2 REAP
set -u
# A connection the server closed fails the write, not the test.
trap "" PIPE
baton=$1 v1=$2 v2=$3 reap=$4
export REAP=${REAP:-$reap}
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/kvcache_serve.sh"

# connect N: connection N on fd 30+N.
connect() { eval "exec $((30 + $1))<>/dev/tcp/127.0.0.1/$port"; }

# say N TEXT: TEXT (printf %b) sent on connection N.
say() { printf '%b' "$2" >&$((30 + $1)); }

# hear N: one line from connection N within 5 s, in $reply ("EOF" at the
# end of the stream, "TIMEOUT" when nothing came).
hear() {
	local status
	IFS= read -r -t 5 reply <&$((30 + $1))
	status=$?
	reply=${reply%$'\r'}
	[ $status -gt 128 ] && reply=TIMEOUT
	[ $status = 1 ] && [ -z "$reply" ] && reply=EOF
	return 0
}

# ask N TEXT: sent on connection N, one line back in $reply.
ask() { say "$1" "$2"; hear "$1"; }

same() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else echo "# got '$2', want '$3'"; not_ok "$1"; fi
}

# every N...: each connection answers a get of its own key, stored
# before: "all" when all did, else who did not and what they said.
every() {
	local c bad=
	for c in "$@"; do
		ask "$c" "get k$c\r\n"
		[ "$reply" = "VALUE k$c 0 1" ] || bad="$bad $c:$reply"
		[ "$reply" = TIMEOUT ] || [ "$reply" = EOF ] || { hear "$c"; hear "$c"; }
	done
	echo "${bad:-all}"
}

# ---- 1. the commit held: what the workers do meanwhile ----
ctl=$tmp/ctl
serve_held srv "$v1" --port 0 --threads 4 --control "$ctl"
[ -n "$port" ] || { echo "Bail out! kvcache-v1 did not start: $(cat "$tmp/srv.err")"; exit 1; }
ok "kvcache-v1 --threads 4 listens on $port"

# Four connections, given to the four workers in turn, and a fifth.
for c in 1 2 3 4 5; do
	connect $c
	ask $c "set k$c 0 0 1\r\n$c\r\n"
	[ "$reply" = STORED ] || echo "# connection $c: '$reply'"
done
same "five connections, each stores its key" "$(every 1 2 3 4 5)" all

"$baton" update --socket "$ctl" --to "$v2" --json >"$tmp/update.json" 2>"$tmp/update.err" &
update=$!
pid=
IFS= read -r -t 30 pid <&"$notify_fd"
holds "the commit is held in kvcache ($pid)" '[ -n "$pid" ] && [ "$pid" = "$prog" ]'
held_from=$(date +%s%N)

ask 1 "get k1\r\n"
same "held: a get is answered (the workers serve until the prepare hook parks them)" "$reply" "VALUE k1 0 1"
hear 1; hear 1
ask 2 "set during 0 0 4\r\nheld\r\n"
same "held: a set is stored" "$reply" STORED
say 3 "set split 0 0 10\r\n01234"
ask 4 "quit\r\n"
same "held: a client that quits sees its connection closed" "$reply" EOF

held_us=$((($(date +%s%N) - held_from) / 1000))
release_held srv "$update"
sed "s/^/# /" "$tmp/update.json" "$tmp/update.err" "$tmp/srv.err"
holds "updated to v2" '[ "$(jq -r .outcome "$tmp/update.json")" = updated ]'
held=$(jq -r '.held_ms // 0' "$tmp/update.json")
blackout=$(jq -r '.blackout_ms // 0' "$tmp/update.json")
# The test's hold is before FREEZE, the blackout after it: both are in
# held_ms, one after the other (whatever the load makes of either).
holds "the program held $held ms, at least the $held_us us the test held the commit and then the blackout ($blackout ms)" \
      'awk -v h="$held" -v t="$held_us" -v b="$blackout" "BEGIN { exit !(b > 0 && h - b >= t / 1000 - 0.002) }"'

say 3 "56789\r\n"
hear 3
same "the set split across the hold is stored by v2" "$reply" STORED
ask 3 "get split\r\n"
hear 3 && value=$reply
hear 3
same "...and reads back whole" "$value" 0123456789
ask 2 "get during\r\n"
hear 2 && value=$reply
hear 2
same "the set stored in the hold is there" "$value" held
same "the held connections go on with v2" "$(every 1 2 3 5)" all
ask 5 "version\r\n"
same "...which is v2" "${reply//*kvcache-v2*/v2}" v2
stop srv "$reaper"

# ---- 2. given up after the workers were parked ----
ctl=$tmp/ctl2
BATON_FAULT=freeze:error@old \
	serve srv2 "$v1" --port 0 --threads 4 --control "$ctl"
[ -n "$port" ] || { echo "Bail out! kvcache-v1 did not start: $(cat "$tmp/srv2.err")"; exit 1; }
for c in 1 2 3 4; do
	connect $c
	ask $c "set k$c 0 0 1\r\n$c\r\n"
done
same "four connections, one a worker, each stores its key" "$(every 1 2 3 4)" all
say 1 "set split 0 0 10\r\n01234"
expect "the update is given up at FREEZE" 1 update --socket "$ctl" --to "$v2" --json
check "aborted, v1 goes on" '.outcome == "aborted"'
say 1 "56789\r\n"
hear 1
same "v1 stores the set split across the update" "$reply" STORED
same "every worker serves again: each connection answers" "$(every 1 2 3 4)" all
ask 2 "version\r\n"
same "...as v1" "${reply//*kvcache-v1*/v1}" v1
stop srv2 "$reaper"
tap_done
