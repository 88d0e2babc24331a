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
expect "status after the conversion" 0 status --socket "$ctl" --json
check "v2 kept its converted region and let go of v1's and of the saved connections" '[.regions[].label] == ["items-v2"]'
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

# ---- a v2 that cannot convert the items: v1 comes back with every one ----
ctl2=$tmp/ctl2
"$v1" --port 0 --memory 64 --control "$ctl2" >"$tmp/fifo" 2>"$tmp/server2.err" &
v1pid=$!
pids="$pids $v1pid"
next_line
port2=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/line")
python3 - "$port2" <<'EOF2'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"".join(b"set many%d 0 0 %d\r\nvalue-%d\r\n" % (i, len(b"value-%d" % i), i)
                   for i in range(20000)))
got = b""
while got.count(b"STORED\r\n") < 20000:
    got += s.recv(1 << 20)
EOF2
# Room for v2 itself, not for a second copy of the items: converting fails.
vm=$(awk '/VmSize/ {print $2}' /proc/"$v1pid"/status)
prlimit --pid "$v1pid" --as=$(((vm + 512) * 1024)):
expect "update to a v2 that runs out of memory converting" 1 update --socket "$ctl2" --to "$v2" --json
check "rolled back, and the client is told why" '.outcome == "rolled-back" and (.error | test("converting the v1 items: .*memory"))'
expect "the program answers" 0 status --socket "$ctl2" --json
check "it is v1, generation 0, in the same process" ".program == \"kvcache-v1 0.1.0\" and .generation == 0 and .pid == $v1pid"
prlimit --pid "$v1pid" --as=unlimited:
python3 - "$port2" >"$tmp/count" <<'EOF2'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
good = 0
for base in range(0, 20000, 500):
    s.sendall(b"get " + b" ".join(b"many%d" % i for i in range(base, base + 500)) + b"\r\n")
    while (line := f.readline()) != b"END\r\n":
        key = line.split()[1]
        good += f.readline() == b"value-" + key[4:] + b"\r\n"
print(good)
EOF2
holds "all 20000 items are there, each with its value" '[ "$(cat "$tmp/count")" = 20000 ]'
bad=0
for i in 0 1 9999 19999; do
	[ "$(memccat "--servers=127.0.0.1:$port2" "many$i" 2>/dev/null)" = "value-$i" ] || bad=1
done
holds "and read back as they were stored (memccat)" '[ "$bad" = 0 ]'

tap_done
