#!/bin/bash
# kvcache lives through updates: v1 -> v2 in exec mode (the item layout
# changes: v2 makes a region at least as large as v1's, takes the v1 items
# over lazily once it has taken over, and lets go of v1's region when they
# are all there), then v2 -> v2 in socket mode, then a refused v2 -> v1.
# Items stored before are all there (read back with libmemcached-tools'
# memccat), a client connected before each update keeps using the same
# connection, new clients connect.  And the ways a conversion fails: a v2
# that cannot take over, one whose dry run finds it could not map its
# regions (refused before FREEZE), one that cannot make its region after
# the exec all the same (v1 comes back in the same process, with its
# region and every item); and a v1 region with an item damaged, which v2
# drops alone, saying so.
#
# Each server runs under reap, which accounts for every process it leads
# to (the versions the updates exec or start, the keepers, the dry runs):
# found through /proc below reap, never by name; at the end each server is
# stopped with SIGTERM and every one of its processes must have exited 0,
# with no sanitizer report.  Every wait is bounded.  TAP output.  bash: the
# held connection is /dev/tcp.
#
# usage: test_kvcache_update.sh BATON KVCACHE_V1 KVCACHE_V2 REAP
set -u
baton=$1 v1=$2 v2=$3 reap=$4
# tap.sh's expect runs baton under reap when it is told where reap is.
export REAP=${REAP:-$reap}
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/kvcache_serve.sh"

if ! [ -e "/proc/$$/task/$$/children" ]; then
	echo "Bail out! /proc/PID/task/TID/children is missing (CONFIG_PROC_CHILDREN): the test finds processes there"
	exit 1
fi

# ask TEXT: send on the held connection, read one line back within 5 s.
ask() {
	printf '%b' "$1" >&5
	IFS= read -r -t 5 reply <&5
	reply=${reply%$'\r'}
}

same() { # NAME GOT WANT
	if [ "$2" = "$3" ]; then ok "$1"; else echo "# got '$2', want '$3'"; not_ok "$1"; fi
}

# regions CTL: the program's regions as "LABEL SIZE ...", from its status.
regions() {
	"$baton" status --socket "$1" --json 2>/dev/null |
		jq -r '[.regions[] | "\(.label) \(.size)"] | join(" ")'
}

# program CTL: the pid of the program the control socket CTL answers for.
program() { "$baton" status --socket "$1" --json 2>/dev/null | jq -r .pid; }

# said NAME SERVER [ERE...]: the server's stderr is those lines, in order.
said() {
	local name=$1 server=$2 re i=0 good=1 lines
	shift 2
	mapfile -t lines <"$tmp/$server.err"
	[ "${#lines[@]}" = "$#" ] || good=0
	for re in "$@"; do
		[[ ${lines[i]-} =~ $re ]] || good=0
		i=$((i + 1))
	done
	if [ "$good" = 1 ]; then ok "$name"; else
		sed 's/^/#   stderr: /' "$tmp/$server.err" | head -20
		not_ok "$name"
	fi
}

# ---- v1 -> v2, once with a take-over that fails, then for real ----
ctl=$tmp/ctl
# The first version an update starts fails its take-over, once.
BATON_FAULT=take-over:error@new BATON_FAULT_ONCE=$tmp/take-over.once \
	serve one "$v1" --port 0 --memory 8 --control "$ctl"
one_fd=$out_fd one_reaper=$reaper v1pid=$prog
[ -n "$port" ] && ok "v1 listens on $port" || not_ok "v1 listens"
servers="--servers=127.0.0.1:$port"

for i in $(seq 1 50); do printf 'value-%d' "$i" >"$tmp/item$i"; done
if (cd "$tmp" && timeout 10 memccp "$servers" item*) 2>"$tmp/err"; then ok "50 items stored with memccp"; else not_ok "50 items stored with memccp"; fi

exec 5<>"/dev/tcp/127.0.0.1/$port"
ask 'set held 7 0 5\r\nhello\r\n'
same "a held connection stores" "$reply" "STORED"

check_items() { # NAME
	local bad=0
	for i in 1 17 50; do
		[ "$(timeout 10 memccat "$servers" "item$i" 2>/dev/null)" = "value-$i" ] || bad=1
	done
	[ "$bad" = 0 ] && ok "$1" || not_ok "$1"
}

v1_regions=$(regions "$ctl")
echo "# v1's regions: $v1_regions"
expect "update v1 -> v2 whose take-over fails" 1 update --socket "$ctl" --to "$v2" --json
check "rolled back" '.outcome == "rolled-back"'
expect "status after the rollback" 0 status --socket "$ctl" --json
check "v1 is back in the same process" ".program == \"kvcache-v1 0.1.0\" and .pid == $v1pid"
# v2 converted into a region of its own before it failed: v1's must still
# be there, as it was, for v1.
holds "v1 has its item region back: $(regions "$ctl")" '[ "$(regions "$ctl")" = "items-v1 8388608" ]'
check_items "the items are all there after the rollback"

expect "update v1 -> v2 (exec)" 0 update --socket "$ctl" --to "$v2" --json
check "updated; the store device converted by schema" '.outcome == "updated" and .mode == "exec" and (.decisions[] | select(.driver == "kvstore") | .action == "convert")'
check_items "items stored by v1 are read back from v2"
expect "status after the conversion" 0 status --socket "$ctl" --json
check "v2 is running, in the same process" ".program == \"kvcache-v2 0.1.0\" and .pid == $v1pid"
# Taken over: the connections saved at PREPARE are let go, and v1's region
# once its items have all come over (lazily, after the take-over).
if wait_for "v2 to let go of v1's region" 10 '[ "$(regions "$ctl" | cut -d" " -f1,3)" = items-v2 ]'; then
	ok "v2 kept its region and let go of v1's and of the saved connections"
else
	not_ok "v2 kept its region and let go of v1's and of the saved connections: $(regions "$ctl")"
fi
echo "# regions: v1 had $v1_regions; v2 has $(regions "$ctl")"
holds "v2's region is as large as v1's: the configured memory is kept" \
      '[ "$(regions "$ctl" | cut -d" " -f2)" -ge "${v1_regions#items-v1 }" ]'
ask 'get held\r\n'
same "the connection held across the update answers" "$reply" "VALUE held 7 5"
IFS= read -r -t 5 reply <&5; IFS= read -r -t 5 reply2 <&5
same "with the value stored before" "${reply%$'\r'} ${reply2%$'\r'}" "hello END"
ask 'version\r\n'
same "it is v2 answering" "$reply" "VERSION 1.6.18-kvcache-v2-baton0.1.0"

expect "update v2 -> v2 (socket mode, a new process)" 0 update --socket "$ctl" --to "$v2" --mode socket --json
check "updated in socket mode" '.outcome == "updated" and .mode == "socket"'
check_items "items still there after the socket-mode update"
# Started with four fds, the new process's fd table is a copy of a small
# one; its own next commit would grow it with the workers sharing it (an
# RCU grace period in the hold): grown while it had one thread (socket.c).
same "the new process grew its fd table while it had one thread: room for its next commit's copies" \
	"$(awk '/^FDSize/ { print ($2 >= 512) }' /proc/"$(program "$ctl")"/status)" 1
ask 'incr missing 1\r\n'
same "the held connection still works in the new process" "$reply" "NOT_FOUND"
# Its item region is mapped afresh there, and each page's first touch
# would be a fault under the store's lock: it maps the pages in use ahead
# (MADV_POPULATE_WRITE) - the header and tables, and the 1 MiB slab page
# the 50 items are in, where the requests since touched a few 4 KiB pages.
items_rss() { # PID: kB of its items-v2 mapping in its page tables
	awk '/^[0-9a-f]+-[0-9a-f]+ / { m = / \/memfd:items-v2 / } m && /^Rss:/ { kb += $2 }
	     END { print kb + 0 }' "/proc/$1/smaps"
}
newpid=$(program "$ctl")
if wait_for "the new process to map its items' pages" 10 '[ "$(items_rss "$newpid")" -ge 1024 ]'; then
	ok "the new process mapped the pages of its items ahead: $(items_rss "$newpid") kB resident"
else
	not_ok "the new process mapped the pages of its items ahead: $(items_rss "$newpid") kB resident"
fi

expect "v2 -> v1 is refused: v1 cannot read kvcache-item v2" 1 update --socket "$ctl" --to "$v1" --json
check "refused by the preflight" '.outcome == "refused"'
ask 'get held\r\n'
same "v2 runs on, untouched" "$reply" "VALUE held 7 5"
IFS= read -r -t 5 reply <&5; IFS= read -r -t 5 reply <&5

exec 6<>"/dev/tcp/127.0.0.1/$port"
printf 'get item2\r\n' >&6
IFS= read -r -t 5 reply <&6
same "a new client connects and reads" "${reply%$'\r'}" "VALUE item2 0 7"
exec 5>&- 6>&-

stop one "$one_reaper" "$(program "$ctl")"
exec {one_fd}<&-
said "the first server said nothing on stderr" one

# ---- a v2 that cannot convert the items: v1 comes back with every one ----
ctl2=$tmp/ctl2
serve two "$v1" --port 0 --memory 64 --control "$ctl2"
two_fd=$out_fd two_reaper=$reaper v1pid=$prog
port2=$port
python3 - "$port2" <<'EOF2'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"".join(b"set many%d 0 0 %d\r\nvalue-%d\r\n" % (i, len(b"value-%d" % i), i)
                   for i in range(20000)))
got = b""
while got.count(b"STORED\r\n") < 20000:
    got += s.recv(1 << 20)
EOF2

# count_items FILE: how many of the 20000 are there with their value.
count_items() {
	python3 - "$port2" >"$1" <<'EOF2'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
good = 0
for base in range(0, 20000, 500):
    s.sendall(b"get " + b" ".join(b"many%d" % i for i in range(base, base + 500)) + b"\r\n")
    while (line := f.readline()) != b"END\r\n":
        key = line.split()[1]
        good += f.readline() == b"value-" + key[4:] + b"\r\n"
print(good)
EOF2
}

# Room for v2 itself, not for a region as large as v1's beside v1's: v2's
# dry run (inheriting the limit, as the exec would) says so before
# anything is frozen, and v1 serves on, never stopped.  4 MiB more than
# v1 has mapped: its update's own work takes some (libelf, opened to read
# v2's contracts, ~0.25 MiB; the dry run's report), v2's regions 128.
vm=$(awk '/VmSize/ {print $2}' /proc/"$v1pid"/status)
prlimit --pid "$v1pid" --as=$(((vm + 4096) * 1024)):
expect "--dry-run asks v2 too" 1 update --socket "$ctl2" --to "$v2" --dry-run --json
check "a dry run is refused as the update would be, and says why" '.outcome == "refused" and .error == "dry run: the program: kvcache-v2 cannot map the 128 MiB its regions need: Cannot allocate memory"'
expect "update to a v2 that could not map the regions it needs" 1 update --socket "$ctl2" --to "$v2" --json
check "refused before FREEZE, and the client is told why" '.outcome == "refused" and .error == "dry run: the program: kvcache-v2 cannot map the 128 MiB its regions need: Cannot allocate memory"'
expect "the program answers" 0 status --socket "$ctl2" --json
check "it is v1, generation 0, in the same process, with its region (and the connections PREPARE saved, until the next PREPARE)" ".program == \"kvcache-v1 0.1.0\" and .generation == 0 and .pid == $v1pid and [.regions[].label] == [\"items-v1\", \"connections\"]"
prlimit --pid "$v1pid" --as=unlimited:
count_items "$tmp/count"
holds "all 20000 items are there, each with its value" '[ "$(cat "$tmp/count")" = 20000 ]'
bad=0
for i in 0 1 9999 19999; do
	[ "$(timeout 10 memccat "--servers=127.0.0.1:$port2" "many$i" 2>/dev/null)" = "value-$i" ] || bad=1
done
holds "and read back as they were stored (memccat)" '[ "$bad" = 0 ]'

# ---- a v1 region whose header is damaged: not handed over at all ----
# magic PID BYTES: the first 8 bytes of the program's items-v1 region, as
# damage would write them (v1 serves on: nothing reads the magic at a
# request); it prints the bytes that were there.
magic() {
	python3 - "$1" "$2" <<'EOF2'
import mmap, os, sys
fds = "/proc/%s/fd" % sys.argv[1]
path = next(os.path.join(fds, fd) for fd in os.listdir(fds)
            if os.readlink(os.path.join(fds, fd)).startswith("/memfd:items-v1"))
with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    print(bytes(m[0:8]).hex())
    m[0:8] = bytes.fromhex(sys.argv[2])
EOF2
}
good_magic=$(magic "$v1pid" 5858585858585800)
for mode in exec socket; do
	# In exec mode v2 would refuse it after the exec, and v1, brought
	# back on it, refuse it too: the cache would be gone.  v1 checks what
	# it hands over at PREPARE, before anything is frozen.
	expect "update ($mode) of a v1 whose region header is damaged" 1 update --socket "$ctl2" --to "$v2" --mode "$mode" --json
	check "refused before FREEZE, and the client told why" '.outcome == "refused" and .error == "the program'"'"'s prepare: the item region is damaged: not a kvcache region (bad magic)"'
	expect "the program answers" 0 status --socket "$ctl2" --json
	check "v1 serves on, in the same process" ".program == \"kvcache-v1 0.1.0\" and .generation == 0 and .pid == $v1pid"
done
count_items "$tmp/count"
holds "all 20000 items are there, each with its value" '[ "$(cat "$tmp/count")" = 20000 ]'
magic "$v1pid" "$good_magic" >/dev/null

# ---- a v1 region with a key rewritten: v2 drops that item, says so ----
# Two items, then the second one's key rewritten in place through the
# region's memfd, as damage would: every list and length stays valid, the
# region holds twin-A twice, the second under twin-B's hash.
printf 'set twin-A 0 0 5\r\nfirst\r\nset twin-B 0 0 6\r\nsecond\r\nquit\r\n' |
	timeout 10 nc -N 127.0.0.1 "$port2" >"$tmp/twins"
python3 - "$v1pid" >"$tmp/twin.out" 2>&1 <<'EOF2'
import mmap, os, sys
fds = "/proc/%s/fd" % sys.argv[1]
path = next(os.path.join(fds, fd) for fd in os.listdir(fds)
            if os.readlink(os.path.join(fds, fd)).startswith("/memfd:items-v1"))
with open(path, "r+b") as f, mmap.mmap(f.fileno(), 0) as m:
    at = m.find(b"twin-B")
    assert at >= 0 and m.find(b"twin-B", at + 1) < 0, "twin-B is not there once"
    m[at:at + 6] = b"twin-A"
print("renamed")
EOF2
if grep -q "^renamed" "$tmp/twin.out"; then ok "a key of the v1 region is made a twin of another"; else
	sed 's/^/#   /' "$tmp/twin.out"
	not_ok "a key of the v1 region is made a twin of another"
fi
# The conversion is lazy (its damage can only be found as the items come
# over, after the take-over): v2 takes over, drops the item no request
# could find, keeps every other one and says what it dropped.
expect "update to v2, whose v1 region holds a rewritten key" 0 update --socket "$ctl2" --to "$v2" --json
check "updated" '.outcome == "updated"'
if wait_for "v2 to let go of v1's region" 10 '[ "$(regions "$ctl2" | cut -d" " -f1,3)" = items-v2 ]'; then
	ok "the conversion ends"
else
	not_ok "the conversion ends: $(regions "$ctl2")"
fi
count_items "$tmp/count"
holds "all 20000 items are there, each with its value" '[ "$(cat "$tmp/count")" = 20000 ]'
printf 'get twin-A\r\nquit\r\n' | timeout 10 nc -N 127.0.0.1 "$port2" >"$tmp/twin"
holds "and twin-A as it was stored" '[ "$(tr -d "\r" <"$tmp/twin" | tr "\n" " ")" = "VALUE twin-A 0 5 first END " ]'

stop two "$two_reaper" "$(program "$ctl2")"
exec {two_fd}<&-
said "the second server said why it refused, what it dropped, and nothing else" two \
	'^kvcache-v1: not updating: the item region is damaged: not a kvcache region \(bad magic\)$' \
	'^kvcache-v1: not updating: the item region is damaged: not a kvcache region \(bad magic\)$' \
	'^kvcache-v2: converting the v1 items: 1 dropped, 0 keys twice in the v1 region: v1 item at 0x[0-9a-f]+ is not stored under its key.s hash$'


# ---- a v2 whose region cannot be made after the exec: v1 comes back ----
# The dry run had room; the address space is limited only after it, while
# the commit is held (BATON_FAULT's hold), as memory another program took
# meanwhile would be.  v2 says so before it takes over, and v1 comes back
# in the same process with its region and its items.
ctl4=$tmp/ctl4
serve_held four "$v1" --port 0 --memory 8 --control "$ctl4"
four_fd=$out_fd four_reaper=$reaper v4pid=$prog
printf 'set kept 0 0 4\r\nkept\r\nquit\r\n' | timeout 10 nc -N 127.0.0.1 "$port" >"$tmp/kept"
"$baton" update --socket "$ctl4" --to "$v2" --json >"$tmp/update4.json" 2>"$tmp/update4.err" &
update4=$!
held=
IFS= read -r -t 30 held <&"$notify_fd"
holds "the commit is held in kvcache-v1 ($held), after the dry run" '[ -n "$held" ] && [ "$held" = "$v4pid" ]'
vm=$(awk '/VmSize/ {print $2}' /proc/"$v4pid"/status)
prlimit --pid "$v4pid" --as=$(((vm + 512) * 1024)):
release_held four "$update4"
holds "rolled back, and the client is told why" \
      'jq -e ".outcome == \"rolled-back\" and .error == \"converting the v1 items: a region of 8 MiB: Cannot allocate memory\"" "$tmp/update4.json" >/dev/null'
prlimit --pid "$v4pid" --as=unlimited:
expect "the program answers" 0 status --socket "$ctl4" --json
check "it is v1, generation 0, in the same process" ".program == \"kvcache-v1 0.1.0\" and .generation == 0 and .pid == $v4pid"
printf 'get kept\r\nquit\r\n' | timeout 10 nc -N 127.0.0.1 "$port" >"$tmp/kept"
holds "with its item" '[ "$(tr -d "\r" <"$tmp/kept" | tr "\n" " ")" = "VALUE kept 0 4 kept END " ]'
stop four "$four_reaper" "$v4pid"
exec {four_fd}<&- {notify_fd}<&-
said "the fourth server said why v2 could not start, and nothing else" four \
	'^kvcache-v2: converting the v1 items: a region of 8 MiB: Cannot allocate memory$'

# ---- --threads 2: the held connections the workers are left ----
# KVCACHE_HELD_BUDGET_US=0: the new version's main thread serves no held
# connection, its workers serve them all (serve_own_held()).  Two clients
# each pipeline 16 gets of a 512 KiB value (8 MiB of answers, more than
# the socket buffers take) and read nothing: the old version stops
# answering once its output is full, the gets it has not answered stay in
# its input, and the update
# carries them, with the answer begun, in the connection's state - where no
# event says so.  Left unserved, the client waits forever.
ctl3=$tmp/ctl3
KVCACHE_HELD_BUDGET_US=0 serve three "$v2" --port 0 --memory 32 --threads 2 --control "$ctl3"
three_fd=$out_fd three_reaper=$reaper
mkfifo "$tmp/held.go"
cat >"$tmp/held.py" <<'EOF2'
import select, socket, sys
from kvcache_big import read_answers
port, size, gets = int(sys.argv[1]), 512 * 1024, 16
s = socket.create_connection(("127.0.0.1", port), timeout=30)
s.sendall(b"set big 0 0 %d\r\n%s\r\n" % (size, b"v" * size))
assert s.makefile("rb").readline() == b"STORED\r\n"
held = []
for _ in range(2):
    c = socket.socket()
    c.settimeout(10)
    c.connect(("127.0.0.1", port))
    c.sendall(b"get big\r\n" * gets)
    held.append(c)
for c in held:
    # Answering: the server has read every get (one segment).
    assert select.select([c], [], [], 30)[0], "no answer before the update"
print("ready", flush=True)
assert select.select([sys.stdin], [], [], 60)[0], "no update"
for c in held:
    read_answers(c, size, gets)
EOF2
PYTHONPATH=$(dirname "$0") python3 "$tmp/held.py" "$port" >"$tmp/held.out" 2>&1 <"$tmp/held.go" &
held_py=$!
exec {go}>"$tmp/held.go"
if wait_for "the held clients' gets to be answering" 30 'grep -q "^ready" "$tmp/held.out"'; then
	ok "two clients hold 16 unanswered gets of 512 KiB each"
else
	sed 's/^/#   /' "$tmp/held.out"
	not_ok "two clients hold 16 unanswered gets of 512 KiB each"
fi
expect "update v2 -> v2 (exec, 2 workers) with the gets held" 0 update --socket "$ctl3" --to "$v2" --json
check "updated" '.outcome == "updated"'
echo go >&"$go"
exec {go}>&-
wait_for "the held clients to have read" 40 '! kill -0 "$held_py" 2>/dev/null'
holds "the workers answered every held get, on both connections: $(grep answers "$tmp/held.out" | tr '\n' ' ')" \
	'[ "$(grep -c "^answers 16 of 16 " "$tmp/held.out")" = 2 ]'
stop three "$three_reaper" "$(program "$ctl3")"
exec {three_fd}<&-
said "the third server said nothing on stderr" three

tap_done
