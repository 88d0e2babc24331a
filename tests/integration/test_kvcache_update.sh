#!/bin/bash
# kvcache lives through updates: v1 -> v2 in exec mode (the item layout
# changes: v2 converts the v1 region), then v2 -> v2 in socket mode, then a
# refused v2 -> v1.  Items stored before are all there (read back with
# libmemcached-tools' memccat), a client connected before each update keeps
# using the same connection, new clients connect.  TAP output.  bash: the
# held connection is /dev/tcp.
#
# usage: test_kvcache_update.sh BATON KVCACHE_V1 KVCACHE_V2
set -u
baton=$1 v1=$2 v2=$3
. "$(dirname "$0")/tap.sh"
ctl=$tmp/ctl
pids=

cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	tap_cleanup
}
trap cleanup EXIT

# The server's next stdout line, within 10 s.
next_line() {
	timeout 10 bash -c 'IFS= read -r line && printf "%s\n" "$line"' <&3 >"$tmp/line"
}

# ask TEXT: send on the held connection, read one line back within 5 s.
ask() {
	printf '%b' "$1" >&5
	IFS= read -r -t 5 reply <&5
	reply=${reply%$'\r'}
}

same() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else echo "# got '$2', want '$3'"; not_ok "$1"; fi
}

mkfifo "$tmp/fifo"
"$v1" --port 0 --memory 8 --control "$ctl" >"$tmp/fifo" 2>"$tmp/server.err" &
pids=$!
exec 3<"$tmp/fifo"
next_line
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/line")
[ -n "$port" ] && ok "v1 listens on $port" || not_ok "v1 listens"
servers="--servers=127.0.0.1:$port"

for i in $(seq 1 50); do printf 'value-%d' "$i" >"$tmp/item$i"; done
if (cd "$tmp" && memccp "$servers" item*) 2>"$tmp/err"; then ok "50 items stored with memccp"; else not_ok "50 items stored with memccp"; fi

exec 5<>"/dev/tcp/127.0.0.1/$port"
ask 'set held 7 0 5\r\nhello\r\n'
same "a held connection stores" "$reply" "STORED"

check_items() { # NAME
	local bad=0
	for i in 1 17 50; do
		[ "$(memccat "$servers" "item$i" 2>/dev/null)" = "value-$i" ] || bad=1
	done
	[ "$bad" = 0 ] && ok "$1" || not_ok "$1"
}

expect "update v1 -> v2 (exec)" 0 update --socket "$ctl" --to "$v2" --json
check "updated; the store device converted by schema" '.outcome == "updated" and .mode == "exec" and (.decisions[] | select(.driver == "kvstore") | .action == "convert")'
next_line
check_items "items stored by v1 are read back from v2"
ask 'get held\r\n'
same "the connection held across the update answers" "$reply" "VALUE held 7 5"
IFS= read -r -t 5 reply <&5; IFS= read -r -t 5 reply2 <&5
same "with the value stored before" "${reply%$'\r'} ${reply2%$'\r'}" "hello END"
ask 'version\r\n'
same "it is v2 answering" "$reply" "VERSION 2.0.0-kvcache-baton0.1.0"

expect "update v2 -> v2 (socket mode, a new process)" 0 update --socket "$ctl" --to "$v2" --mode socket --json
check "updated in socket mode" '.outcome == "updated" and .mode == "socket"'
next_line
# The new process, found by its control socket path, unique to this test.
pids="$pids $(pgrep -f -- "--control $ctl" | tr '\n' ' ')"
check_items "items still there after the socket-mode update"
ask 'incr missing 1\r\n'
same "the held connection still works in the new process" "$reply" "NOT_FOUND"

expect "v2 -> v1 is refused: v1 cannot read kvcache-item v2" 1 update --socket "$ctl" --to "$v1" --json
check "refused by the preflight" '.outcome == "refused"'
ask 'get held\r\n'
same "v2 runs on, untouched" "$reply" "VALUE held 7 5"
IFS= read -r -t 5 reply <&5; IFS= read -r -t 5 reply <&5

exec 6<>"/dev/tcp/127.0.0.1/$port"
printf 'get item2\r\n' >&6
IFS= read -r -t 5 reply <&6
same "a new client connects and reads" "${reply%$'\r'}" "VALUE item2 0 7"

tap_done
