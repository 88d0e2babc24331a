#!/bin/sh
# Updates of tests/integration/host_prog.c, exec and socket mode, and their
# failures.  Each run prints one JSON line per start or failed update;
# every scenario checks where the program ended up, in which version, and
# that the region, the pipe's unread bytes, the eventfd count, the device
# state and the number of open fds all came through - and accounts for
# every process the scenario led to (tests/integration/reap.c): each must
# have exited 0, or ended as the scenario made it end.  TAP output.
#
# usage: test_host.sh BUILD_DIR_OF_HOST_PROGS TEST_DRIVERS_V2
set -u
dir=$1
drivers_v2=$2	# has contracts, but is no host: its dry run never reports
v1=$dir/host-prog-v1
v2=$dir/host-prog-v2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
	n=$((n + 1)) failed=$((failed + 1))
	echo "not ok $n - $1"
}

# run NAME COMMAND...: a scenario, every process it leads to reaped and
# logged, bounded in time; lines to $tmp/out, stderr to $tmp/err.  The
# scenario before must have checked its processes (procs).
unchecked=
run() {
	[ -n "$unchecked" ] && not_ok "$unchecked: its processes were never checked"
	name=$1 unchecked=$1
	shift
	: >"$tmp/procs"
	"$dir/reap" -l "$tmp/procs" -t 30 -- "$@" >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [ "$status" -eq 124 ]; then
		echo "# $name: still running after 30 s, killed"
	fi
}

# check NAME JQ_EXPR: over the array of lines printed.
check() {
	if [ -s "$tmp/out" ] && jq -es "$2" "$tmp/out" >/dev/null 2>&1; then ok "$1"; else
		not_ok "$1"
		echo "# jq -s '$2' failed on:"
		sed 's/^/#   /' "$tmp/out"
	fi
}

# procs NAME JQ_EXPR: over the array of processes the scenario led to,
# {pid, name, how: "exit"|"signal", code}; and nothing on stderr but what
# the expression $3 (grep -E, optional) allows.  An exec-mode update's
# baton-mm (lib/host/mm.c: it holds the old address space through the
# exec) is the new version's child, which reaps it; reap sees it only when
# the new version died first, and then it must have exited 0 - the
# expression is over the others.
procs() {
	unchecked=
	jq -Rn '[inputs | split(" ") | {pid: (.[0] | tonumber), name: .[1], how: .[2], code: (.[3] | tonumber)}]' \
		<"$tmp/procs" >"$tmp/procs.json"
	# A sanitizer's report (reap.c) fails whatever the expression says.
	if jq -e "all(.[]; .how != \"report\") and
		  all(.[] | select(.name == \"baton-mm\"); .how == \"exit\" and .code == 0) and
		  ([.[] | select(.name != \"baton-mm\")] | $2)" "$tmp/procs.json" >/dev/null 2>&1 &&
	   ! grep -Ev "${3:-^\$}" "$tmp/err" | grep -q .; then ok "$1"; else
		not_ok "$1"
		echo "# processes (jq '$2'):"
		sed 's/^/#   /' "$tmp/procs"
		sed 's/^/#   stderr: /' "$tmp/err"
		[ "$status" -eq 125 ] && echo "#   (reap found a sanitizer report: it is in the stderr above)"
	fi
}

all_exit0='all(.[]; .how == "exit" and .code == 0)'

# What must hold in every line: nothing lost, nothing leaked.
intact='all(.[] | select(.fds); .region_ok and .pipe_bytes == 13 and .eventfd == 5 and .session_eventfd == 7 and .frozen <= 0)
	and ([.[] | select(.fds) | .fds] | unique | length == 1)'
same_pid='([.[].pid | select(.)] | unique | length == 1)'
# A socket-mode new process that said it failed prints as it exits, which
# the old one, going on, does not wait for: its lines first, after the
# start.
v2_first='(.[0:1] + (.[1:] | sort_by(-(.version))))'
# A new process gets the preserved fds, not what the old one inherited.
same='all(.[] | select(.fds); .region_ok and .pipe_bytes == 13 and .eventfd == 5 and .session_eventfd == 7 and .frozen <= 0)'

run "update v1 -> v2" "$v1" --update-to "$v2"
check "v1 -> v2: two starts, same PID, everything intact" "length == 2 and $intact and $same_pid"
check "v2 restored generation 1 from v1's image" '.[1] | .event == "restored" and .version == 2 and .generation == 1 and .rolled_back == false and .region_inherited'
check "the renamed driver read v1 state through its converter" '.[1] | .count == 101 and .converted == 1'
check "a device v2 has no driver for is quarantined, not lost" '.[1].scratch == "quarantined"'
check "shared regions: each device uses its own again, and the quarantined scratch keeps using the pool" '.[0].pool_users == 2 and .[0].counter_dma_users == 1 and .[1].pool_users == 2 and .[1].counter_dma_users == 1'
check "blackout measured, FREEZE to FINISH" '.[1].blackout_us > 0 and .[1].blackout_us < 5000000'
check "v1's own number of a preserved fd (900) crosses the exec, not closed inside it: close-on-exec again in v2 until FINISH, closed after" '.[0].orig == "eventfd" and .[1].orig_before == "eventfd" and .[1].orig == "closed"'
procs "the program exited 0 (it reaped its dry run and its keeper itself)" "$all_exit0 and length == 1"

# 600 extra fds (~400 KB of restore by prefault.c's measure): the new
# version's heap is grown and faulted in on another CPU while it restores
# (lib/host/prefault.c).  Populating changes no byte: everything comes
# through; the prefaulter is reaped before baton_host_create() returns,
# so reap never sees it.  Not with one CPU, nor under a sanitizer's
# allocator (the heap does not move): then no "prefault" note.
BATON_TRACE=$tmp/trace run "exec mode, 600 extra fds" "$v1" --update-to "$v2" --extra-fds 600
check "exec mode: 600 extra fds crossed, counts intact, the heap prefaulted meanwhile" "length == 2 and $intact and $same_pid and .[1].event == \"restored\" and .[1].extra_fds == 600 and .[1].count == 101"
procs "exec mode, 600 extra fds: one process, exit 0 (the prefaulter reaped by v2)" "$all_exit0 and length == 1"
if [ "$(nproc)" -lt 2 ] || [ "${BATON_TEST_SANITIZED:-false}" = true ]; then
	ok "# SKIP the prefaulter: one CPU, or a sanitizer's allocator"
elif [ "$(awk '$3 == "prefault"' "$tmp/trace" | wc -l)" -eq 1 ]; then
	ok "v2 started the prefaulter, once, after the handover was read"
else
	not_ok "v2 started the prefaulter, once, after the handover was read"
	sed 's/^/#   /' "$tmp/trace"
fi
rm -f "$tmp/trace"

HOST_PROG_CHECK_MM=1 run "the old address space is held until FINISH" "$v1" --update-to "$v2"
check "v2, restoring before FINISH, still has baton-mm holding v1's address space (freed after FINISH, not inside the blackout)" 'length == 2 and .[0].mm_held == -1 and .[1].event == "restored" and .[1].mm_held == 1'
procs "v2 told baton-mm to go after FINISH and reaped it: one process, exit 0" "$all_exit0 and length == 1"

# An fd the program marked with baton_host_close_after_finish() (an epoll
# at 950): it crosses an exec-mode update, close-on-exec again in the new
# version until FINISH, then closed; an update that fails at the exec
# leaves it as it was; a version coming back closes it in the new one's
# place.  Marking a closed fd, or a preserved one, is refused.
run "an epoll closed after FINISH, exec mode" "$v1" --update-to "$v2" --close-after-finish -- --close-after-finish
check "the marked epoll is open and close-on-exec in v2 until FINISH, closed after; marking a closed fd or a preserved one is refused" "length == 2 and $same_pid and .[0].linger == \"epoll\" and .[0].linger_errors == \"Bad file descriptor|Invalid argument\" and .[1].event == \"restored\" and .[1].version == 2 and .[1].linger_before == \"epoll\" and .[1].linger == \"closed\" and .[1].count == 101"
procs "an epoll closed after FINISH: one process, exit 0" "$all_exit0 and length == 1"
run "an epoll marked, socket mode" "$v1" --update-to "$v2" --mode socket --close-after-finish -- --close-after-finish
check "socket mode: the new process never has it" '[.[] | select(.event == "restored")] | length == 1 and .[0].linger_before == "closed" and .[0].linger == "closed" and .[0].count == 101'
procs "an epoll marked, socket mode: no process died" "$all_exit0"
# held_at FIFO: the pid a process held by a fault wrote (hold: it says
# so, then waits for a line on BATON_FAULT_RELEASE); release: that line,
# bounded, should the process be gone.
held_at() {
	read -r pid_held _ <"$1"
	echo "$pid_held"
}
release() {
	timeout 30 sh -c 'echo go >"$1"' release "$tmp/release"
}
# The exec fails: the target, there for the preflight and the dry run, is
# gone when v1, held just before its handover, goes on.
ln -s "$v2" "$tmp/v2-link" && mkfifo "$tmp/notify" "$tmp/release"
BATON_FAULT=handover:hold@old BATON_FAULT_NOTIFY=$tmp/notify BATON_FAULT_RELEASE=$tmp/release \
	run "an epoll marked, the exec fails" "$v1" --update-to "$tmp/v2-link" --close-after-finish &
held_at "$tmp/notify" >/dev/null
rm "$tmp/v2-link"
release
wait $!
check "an exec that fails leaves the marked epoll and a preserved fd's own number close-on-exec, as they were, and no copy of a preserved fd open; v1 runs on" '.[1].event == "update-failed" and .[1].version == 1 and (.[1].why | test("^exec .*v2-link: No such file or directory$")) and .[1].linger == "epoll" and .[1].orig == "eventfd" and .[1].count == 101 and .[1].fds == .[0].fds'
check "an exec that fails gives the main thread its clear_child_tid back (libc's: pthread_join() waits on it), not the holder's word" '.[0].tid_address == "same" and .[1].tid_address == "same"'
procs "an epoll marked, the exec fails: no process died" "$all_exit0 and length == 1"
# Back-to-back updates: v2 updates again at once, while the first update's
# holder has not gone - stopped here, as one freeing GiBs is still busy.
# The second update does not wait for it (lib/host/reap.c): v2 names it
# to the third binary, which reaps it (killed at its end, still stopped).
# Waited for, it would have held v2's loop 10 s, then been killed.
mkfifo "$tmp/notify-b2b"
t0=$(date +%s)
BATON_FAULT=take-over:hold@new BATON_FAULT_NOTIFY=$tmp/notify-b2b BATON_FAULT_RELEASE=$tmp/release \
BATON_FAULT_ONCE=$tmp/once-b2b \
	run "back-to-back updates, the first one's holder still there" "$v1" --update-to "$v2" -- --update-to "$v2" --at-generation 1 &
held=$(held_at "$tmp/notify-b2b")
mm=$(pgrep -P "$held" -x baton-mm)
[ -n "$mm" ] && kill -STOP "$mm"
release
wait $!
took=$(($(date +%s) - t0))
[ -n "$mm" ] && kill -CONT "$mm" 2>/dev/null
check "back to back: v2 took over from v1, then the next v2 from it, everything intact (the first holder was there: ${mm:-none})" "length == 3 and $intact and $same_pid and .[2].event == \"restored\" and .[2].generation == 2 and \"${mm:-}\" != \"\""
if [ "$took" -lt 8 ]; then ok "back to back: the second update did not wait for the first one's holder (${took} s)"; else
	not_ok "back to back: the second update did not wait for the first one's holder (${took} s)"
fi
procs "back to back: the stopped holder reaped by the last binary, none left: one process, exit 0" "$all_exit0 and length == 1"
unchecked=
HOST_PROG_FAIL_RESTORE=1 run "an epoll marked, v2 cannot restore" "$v1" --update-to "$v2" --close-after-finish -- --close-after-finish
check "v1, coming back in place, has the marked epoll until its FINISH, then closes it" "length == 2 and $same_pid and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and .[1].linger_before == \"epoll\" and .[1].linger == \"closed\""
procs "an epoll marked, v2 cannot restore: no process died" "$all_exit0"

run "a device added after a restore" "$v1" --update-to "$v2" -- --hotplug
check "a device the image does not hold is probed cold next to the restored one" 'length == 2 and .[0].hotplug == -1 and .[1].event == "restored" and .[1].count == 101 and .[1].hotplug == 100'
procs "one process, exit 0" "$all_exit0 and length == 1"

run "exec fails" "$v1" --update-to "$tmp/no-such-binary"
check "a missing target is refused by the preflight, with the reason; v1 runs on" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and (.[1].why | test(\"cannot read the contracts of .*no-such-binary: No such file or directory\")) and $intact"
procs "nothing was started" "$all_exit0 and length == 1"

for op in preserve freeze; do
	run "$op fails" "$v1" --update-to "$v2" --fail "$op"
	check "a failing $op unwinds: v1 running, device unfrozen, the driver's error said as it is, a preserved fd's own number close-on-exec as it was" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].why == \"0000:00:10.0 (counter): $op: Input/output error\" and .[1].orig == \"eventfd\" and $intact"
	procs "$op fails: no process died" "$all_exit0 and length == 1"
done
HOST_PROG_ORIG_INHERIT=1 run "freeze fails, a preserved fd without close-on-exec" "$v1" --update-to "$v2" --fail freeze
check "an aborted update leaves a preserved fd that was inheritable inheritable" 'length == 2 and .[1].event == "update-failed" and .[0].orig == "eventfd-inheritable" and .[1].orig == "eventfd-inheritable" and .[1].fds == .[0].fds'
procs "freeze fails, an inheritable preserved fd: no process died" "$all_exit0 and length == 1"
check "a failed freeze is an aborted update" '.[1].error_text == "update aborted, the previous version goes on"'

# What crosses is the update's own copy of each preserved fd, made and
# checked at the commit (lib/host/serialize.c): a driver closing its
# number at freeze(), or an open() taking it, changes nothing that crosses.
run "a fd closed at freeze" "$v1" --update-to "$v2" --fail close
check "a preserved fd a driver closed at freeze still crosses as the file preserved (the eventfd, its count 7); v2 holds as many fds as v1 did" "length == 2 and .[1].event == \"restored\" and .[1].version == 2 and .[1].count == 101 and $intact and $same_pid"
procs "a fd closed at freeze: no process died" "$all_exit0 and length == 1"

for mode in exec socket; do
	run "a fd closed and its number reused at freeze, $mode mode" "$v1" --update-to "$v2" --mode $mode --fail reuse
	check "a preserved fd whose number a driver reused at freeze: the file preserved crosses, not what took the number ($mode mode)" "[.[] | select(.event != \"handed-over\")] | length == 2 and .[1].event == \"restored\" and .[1].version == 2 and .[1].count == 101 and .[1].session_eventfd == 7 and $same"
	procs "a fd reused at freeze, $mode mode: no process died" "$all_exit0"
done
run "a region's memfd closed and its number reused at freeze" "$v1" --update-to "$v2" --fail reuse-region
check "a region's memfd whose number a driver reused at freeze: the region's own memfd crosses, its bytes intact" "length == 2 and .[1].event == \"restored\" and .[1].version == 2 and .[1].count == 101 and .[1].region_inherited and $intact"
procs "a region's memfd reused at freeze: no process died" "$all_exit0 and length == 1"
# v1's own numbers of the preserved fds cross the exec and v2 closes them
# after FINISH (lib/host/linger.c), each only while it is still the file
# its copy is: a number freed at freeze() may be v2's own fd by then, one
# an inheritable fd took is the program's.
HOST_PROG_TAKE_ORIG=1 run "a fd closed at freeze, its number v2's own" "$v1" --update-to "$v2" --fail close
check "v2's own fd at the number of a preserved fd v1 closed at freeze stays open after FINISH" 'length == 2 and .[1].event == "restored" and .[1].version == 2 and .[1].count == 101 and .[1].orig_before == "other" and .[1].orig == "other"'
procs "a fd closed at freeze, its number v2's own: no process died" "$all_exit0 and length == 1"
run "a fd closed and its number reused for an inheritable fd at freeze" "$v1" --update-to "$v2" --fail reuse-inheritable
check "an inheritable fd that took a preserved fd's number at freeze crosses the exec and stays open in v2" 'length == 2 and .[1].event == "restored" and .[1].version == 2 and .[1].session_eventfd == 7 and (.[1].orig | test("^other")) and .[1].fds == .[0].fds + 1'
procs "a fd reused for an inheritable fd at freeze: no process died" "$all_exit0 and length == 1"
HOST_PROG_ORIG_INHERIT=1 run "a preserved fd without close-on-exec" "$v1" --update-to "$v2"
check "a preserved fd's own number the exec keeps (no close-on-exec) is left to v2 as it was, beside its copy" "length == 2 and .[1].event == \"restored\" and .[1].orig_before == \"eventfd-inheritable\" and .[1].orig == \"eventfd-inheritable\" and .[1].fds == .[0].fds + 1 and $same"
procs "a preserved fd without close-on-exec: no process died" "$all_exit0 and length == 1"
run "no dry run: the target does not say it closes them" "$v1" --update-to "$v2" --no-dry-run
check "without the target's word the exec closes the preserved fds' own numbers, as before" "length == 2 and .[1].event == \"restored\" and .[1].orig_before == \"closed\" and .[1].orig == \"closed\" and $intact"
procs "no dry run: no process died" "$all_exit0 and length == 1"
run "no kcmp(): the update cannot tell the numbers' files apart" "$dir/no-kcmp" "$v1" --update-to "$v2"
check "without kcmp() the exec closes the preserved fds' own numbers, as before, and the update goes through" "length == 2 and .[1].event == \"restored\" and .[1].version == 2 and .[1].count == 101 and .[1].orig_before == \"closed\" and .[1].orig == \"closed\" and $intact"
procs "no kcmp(): no process died" "$all_exit0 and length == 1"
# At the commit each copy is checked against the file preserved: a number
# reused before it is refused, naming it.
reused='"fd 900 (token 0x3, session \"extra\") is no longer the file that was preserved: closed and its number reused"'
run "a fd closed and its number reused before the dry run" "$v1" --update-to "$v2" --fail reuse-early
check "a preserved fd whose number was reused before the commit is refused there, its copy checked, naming it; v1 runs on" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].why == $reused and .[1].error_text == \"Stale file handle\" and .[1].count == 101 and .[1].frozen <= 0"
procs "a fd reused before the dry run: no process died" "$all_exit0 and length == 1"
run "a fd closed before the dry run" "$v1" --update-to "$v2" --fail close-early
check "a preserved fd closed before the commit is refused there, naming it, nothing frozen; v1 runs on" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].why == \"fd 900 (token 0x3, session \\\"extra\\\") was closed\" and .[1].error_text == \"Bad file descriptor\" and .[1].count == 101 and .[1].frozen <= 0"
procs "a fd closed before the dry run: no process died" "$all_exit0 and length == 1"

HOST_PROG_FAIL_RESTORE=1 run "v2 cannot restore" "$v1" --update-to "$v2"
check "v2 failing to restore execs v1 with the same image, in place" "length == 2 and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and $intact and $same_pid"
check "v1, coming back in place, has its own number of a preserved fd until its FINISH, then closes it" '.[1].orig_before == "eventfd" and .[1].orig == "closed"'
check "v1 came back with its own state and drivers, its generation, and why" '.[1] | .count == 101 and .scratch == "scratch" and .generation == 0 and .why == "host-prog v2 could not restore: 0000:00:10.0 (tally): restore: Input/output error"'
procs "no process died" "$all_exit0"

HOST_PROG_FAIL_RESTORE_COMPLETE=1 run "v2 cannot complete a restore" "$v1" --update-to "$v2"
check "a driver's restore_complete() failing fails the device's restore: v1 comes back in place, with everything, and says which device" "length == 2 and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and $intact and $same_pid and .[1].count == 101 and .[1].why == \"host-prog v2 could not restore: 0000:00:10.0 (tally): restore: Input/output error\""
procs "v2 cannot complete a restore: no process died" "$all_exit0"

HOST_PROG_DROP_FD=1 run "the handover is one fd short" "$v1" --update-to "$v2"
check "v2 refuses fds that are not what the image lists; v1, handed the same, too; the keeper brings v1 back with everything" "length == 3 and .[1].event == \"create-failed\" and .[1].version == 1 and .[1].error_text == \"Bad file descriptor\" and .[2].event == \"restored\" and .[2].version == 1 and .[2].rolled_back and .[2].count == 101 and $intact"
procs "v1 went back in place and failed (exit 1), the keeper's v1 exited 0" '[.[] | [.name, .how, .code]] == [["host-prog-v1", "exit", 1], ["host-prog-v1", "exit", 0]]'

run "downgrade" "$v1" --update-to "$v2" -- --update-to "$v1" --at-generation 1
check "v1 cannot read counter-state v2: the preflight refuses, v2 runs on" "length == 3 and .[2].event == \"update-failed\" and .[2].version == 2 and .[2].error_text == \"update refused\" and .[2].why == \"mandatory 0000:00:10.0 would not be bound by host-prog-v1 (quarantine)\" and $intact"
procs "one process, exit 0" "$all_exit0 and length == 1"

run "forced downgrade" "$v1" --update-to "$v2" -- --update-to "$v1" --at-generation 1 --force
check "forced: v1 runs, and the counter it cannot read is quarantined, not lost" "length == 3 and .[2].event == \"restored\" and .[2].version == 1 and .[2].generation == 2 and (.[2].rolled_back | not) and .[2].count == -1 and $intact"
check "the scratch device, quarantined by v2, is bound again by v1" '.[2].scratch == "scratch"'
check "the quarantined counter keeps its regions" '.[2].pool_users == 2 and .[2].counter_dma_users == 1'
procs "one process, exit 0" "$all_exit0 and length == 1"

run "forced downgrade, orphans reset" "$v1" --update-to "$v2" -- --update-to "$v1" --at-generation 1 --force --orphan-reset
check "a reset counter's region goes with it; the pool stays for scratch" 'length == 3 and .[2].event == "restored" and .[2].version == 1 and .[2].count == -1 and .[2].counter_dma_users == -1 and .[2].pool_users == 1 and .[2].fds == .[1].fds - 1'
procs "one process, exit 0" "$all_exit0 and length == 1"

run "devices removed" "$v1" --remove-devices
check "a shared region lives while it has a user, and goes with its last" 'length == 3 and .[1].pool_users == 1 and .[1].counter_dma_users == 1 and .[1].fds == .[0].fds and .[2].pool_users == -1 and .[2].counter_dma_users == -1 and .[2].fds == .[0].fds - 2'
procs "one process, exit 0" "$all_exit0 and length == 1"

HOST_PROG_FAIL_VALIDATE=1 run "the dry run rejects a state" "$v1" --update-to "$v2"
check "a payload v2 cannot decode refuses the update before FREEZE, saying which" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"dry run: 0000:00:10.0: tally cannot read its state (bad property value)\" and $intact"
procs "no process died" "$all_exit0"

# A target linked with a libbaton built without the kernel's VFIO backend
# (-Dvfio=false), and a VFIO fd in the image: v1's session "extra" records
# its eventfd as one.
v2novfio=$dir/host-prog-v2-novfio
HOST_PROG_EXTRA_KIND=vfio-group run "a type1 group, a target without VFIO" "$v1" --update-to "$v2novfio"
check "refused before FREEZE: the target's dry run lists its backends, the image needs type1's" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"$v2novfio has no vfio-type1 device backend (it has [\\\"vfio-user\\\"]), and the image holds fd 0x3 (vfio-group) of session extra\" and $intact"
procs "one process, exit 0" "$all_exit0 and length == 1"
HOST_PROG_EXTRA_KIND=iommufd run "an iommufd, a target with every backend" "$v1" --update-to "$v2"
check "a target with the backend takes the update" 'length == 2 and .[1].event == "restored" and .[1].version == 2'
procs "one process, exit 0" "$all_exit0 and length == 1"
HOST_PROG_EXTRA_KIND=iommufd run "an iommufd, a target that does not list its backends" "$v1" --update-to "$dir/old-target" --force
check "refused before FREEZE: the target does not say which backends its library has" "length == 2 and .[1].event == \"update-failed\" and .[1].error_text == \"update refused\" and .[1].why == \"the dry run of $dir/old-target does not say which device backends it has (its libbaton predates the list), and the image holds fd 0x3 (iommufd) of session extra\" and $intact"
procs "one process, exit 0" "$all_exit0 and length == 1"
run "no VFIO fd, a target without VFIO" "$v1" --update-to "$v2novfio"
check "a target without VFIO takes an image without VFIO fds" 'length == 2 and .[1].event == "restored" and .[1].version == 2'
procs "one process, exit 0" "$all_exit0 and length == 1"

cp "$v2" "$tmp/v2-not-executable"
chmod -x "$tmp/v2-not-executable"
run "a target that cannot be executed" "$v1" --update-to "$tmp/v2-not-executable"
check "the dry run says it could not start it, and why" "length == 2 and .[1].event == \"update-failed\" and .[1].error_text == \"update refused\" and (.[1].why | test(\"could not start: Permission denied\")) and $intact"
procs "one process, exit 0" "$all_exit0 and length == 1"

run "the target never reports" "$v1" --update-to "$drivers_v2" --force
check "a dry run that gives no report refuses the update" "length == 2 and .[1].event == \"update-failed\" and .[1].error_text == \"update refused\" and (.[1].why | test(\"gave no report\")) and $intact"
procs "one process, exit 0" "$all_exit0 and length == 1"

# ---- the new version fails after FREEZE, exec mode: the keeper ----
# v1 starts with fd 9 inherited, not close-on-exec, as from a supervisor:
# an exec carries it, so the v1 the keeper brings back must have it too.
HOST_PROG_KILL_RESTORE=1 run "exec mode, v2 killed in restore" \
	sh -c 'exec "$0" "$@" 9<"$0"' "$v1" --update-to "$v2"
check "the keeper brings v1 back with the same image and fds, the inherited fd 9 too: nothing lost" "length == 2 and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and .[1].count == 101 and .[1].scratch == \"scratch\" and .[1].why == \"the new version died before it took over\" and $intact"
check "the v1 the keeper brings back has none of v1's own numbers of the preserved fds" '.[1].orig_before == "closed" and .[1].orig == "closed"'
check "it runs as the keeper's process" '.[1].pid != .[0].pid'
procs "v2 died of SIGKILL; the keeper became v1, which exited 0" '(map(select(.how == "signal")) == [.[] | select(.name == "host-prog-v2" and .code == 9)]) and length == 2 and .[-1] == (.[-1] | .how = "exit" | .code = 0)'

HOST_PROG_HANG_RESTORE=1 run "exec mode, v2 hangs in restore" "$v1" --update-to "$v2" --timeout-ms 1500
check "at the deadline the keeper kills v2 and brings v1 back" "length == 2 and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and .[1].why == \"the new version did not take over in time\" and $intact"
procs "v2 killed by the keeper, nothing else failed" '(map(select(.how == "signal")) == [.[] | select(.name == "host-prog-v2" and .code == 9)]) and length == 2'

# A new process that said it could not restore is on its way out: v1
# rolls back and goes on without waiting for its exit (a sanitizer's leak
# check under load took over a second, the devices frozen meanwhile) and
# reaps it once it is gone.  v2 is held at its exit until v1 has said the
# update failed: waited for, it would have been killed first.
rm -f "$tmp/exit" && mkfifo "$tmp/exit"
HOST_PROG_FAIL_RESTORE=1 HOST_PROG_HOLD_EXIT=$tmp/exit \
	run "socket mode, v2 fails and is slow to exit" "$v1" --update-to "$v2" --mode socket &
timeout 20 sh -c 'tail -f "$1" | grep -q -m1 update-failed' tail "$tmp/out" ||
	echo "# v1 never said the update failed"
timeout 30 sh -c 'echo go >"$1"' release "$tmp/exit"
wait $!
check "socket mode, v2 fails and is slow to exit: v1 said the update failed before v2 was let exit, and reaped it after" "length == 4 and ([.[1].event, .[2].event] | sort) == [\"create-failed\", \"update-failed\"] and .[3].event == \"exit-released\" and (map(select(.event == \"update-failed\"))[0] | .version == 1 and (.why | startswith(\"the new version could not restore: \"))) and $same"
procs "socket mode, v2 fails and is slow to exit: v1 alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

for own in fail kill hang; do
	HOST_PROG_OWN=$own run "exec mode, v2's own restore work: $own" "$v1" --update-to "$v2" --timeout-ms 1500
	check "exec mode, own restore work $own: v1 back, nothing lost" "map(select(.event == \"restored\")) | length == 1 and .[0].version == 1 and .[0].rolled_back and .[0].count == 101 and $intact"
	if [ "$own" = fail ]; then
		procs "own work fails: v2 went back to v1 in place, which exited 0" "$all_exit0 and length == 1"
	else
		procs "own work $own: v2 killed (by the test or at the deadline by the keeper), the keeper's v1 exited 0" '[.[] | [.name, .how, .code]] == [["host-prog-v2", "signal", 9], ["host-prog-v1", "exit", 0]]'
	fi
done
HOST_PROG_OWN=fail run "exec mode, v2 gives up" "$v1" --update-to "$v2"
check "a program that gives up goes back in place, and says why" "length == 2 and .[1].version == 1 and .[1].why == \"host-prog v2 gave up its own restore\" and $same_pid"
procs "one process, exit 0" "$all_exit0 and length == 1"

# ---- socket mode: the new version is a new process ----
# Under a soft limit of 256 open files: the host raises it to the hard
# limit itself, or 600 more fds could not even be made.
run "socket mode" sh -c 'ulimit -S -n 256 && exec "$@"' sh "$v1" --update-to "$v2" --mode socket --extra-fds 600
check "socket mode: v1 hands over, v2 restores in a new process" "length == 3 and ([.[].event] | sort == [\"handed-over\", \"restored\", \"started\"]) and (.[0].pid as \$old | map(select(.event == \"restored\"))[0] | .version == 2 and .pid != \$old) and $same"
check "600 extra fds crossed, beyond one SCM_RIGHTS message, counts intact" 'map(select(.event == "restored"))[0] | .extra_fds == 600 and .count == 101 and .converted == 1 and .blackout_us > 0'
# The keeper, told v2 finished, renamed itself while v1 exits (keeper.c).
procs "every process exited 0: v1, the keeper, v2" "$all_exit0 and length == 3 and (map(.name) | sort == [\"baton-let-go\", \"host-prog-v1\", \"host-prog-v2\"])"

# The new process is started with the update, before the dry run, plans on
# the PREPARE image while v1 serves, and at the commit gets the fds, plans
# on the commit's image and waits for the go (lib/host/socket.c): in the
# trace both write, its start comes before the old one's commit, its
# parse before the commit asks whether it has planned, the fds after it, the go after the old one's HANDOVER
# (host-prog's freeze() changes its state, so it parses the FREEZE image
# again after the go).
BATON_TRACE=$tmp/trace run "socket mode, traced" "$v1" --update-to "$v2" --mode socket
check "socket mode, traced: v2 restores, from the FREEZE image (its plan of the PREPARE one dropped)" "length == 3 and (map(select(.event == \"restored\"))[0] | .version == 2 and .restored_frozen == 1) and $same"
procs "traced: every process exited 0" "$all_exit0 and length == 3"
# Each "before" either holds in one process or is a message's cause and
# effect (the fds are sent after the keeper's fork; "sent-fds", noted once
# they are, may come after "received-fds"): none depends on which process
# gets a CPU first.
if sort -n "$tmp/trace" | awk '$3 == "spawned" { s = NR; old = $2 } $3 == "commit" && $2 == old { c = NR }
	$3 == "parsed" && !p { p = NR } $3 == "new-planned" { pl = NR }
	$3 == "keeper-forked" { kf = NR } $3 == "received-fds" { d = NR }
	$3 == "freeze" { f = NR } $3 == "keeper" { k = NR } $3 == "received" && k { r = NR }
	END { exit !(s && s < c && p && p < pl && c < pl && kf && kf < d && d < f && r > k) }'; then
	ok "the new process started before the commit, parsed the image before it was asked to, got the fds in the commit before FREEZE, and the go after HANDOVER"
else
	not_ok "the new process started before the commit, parsed the image before it was asked to, got the fds in the commit before FREEZE, and the go after HANDOVER"
	sort -n "$tmp/trace" | sed 's/^/#   /'
fi

# Started with the update, it may fail before it has planned: v1 refuses
# the update at the commit's start, before anything is touched, and reaps
# it.
HOST_PROG_EXIT_EARLY=1 run "socket mode, v2 exits before it has planned" "$v1" --update-to "$v2" --mode socket
check "v2 gone before it had planned: v1 refuses the update, told why" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"the new version exited (status 3) before it had planned\" and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
procs "v2 gone before it had planned: v1 reaped it, alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

HOST_PROG_HOSTILE=1 run "socket mode, v2 says something else than planned" "$v1" --update-to "$v2" --mode socket
check "a new process that says something else is not handed anything: v1 refuses the update, told why" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"the new version said something other than that it had planned\" and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
procs "the hostile v2 killed and reaped by v1, alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# One that fails before it has planned (its plan of the PREPARE image,
# say) answers 'E' and why: v1 refuses the update and says so.
HOST_PROG_HOSTILE=E run "socket mode, v2 fails before it has planned" "$v1" --update-to "$v2" --mode socket
check "a new process that fails before it has planned: v1 refuses the update, told its reason" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"the new version could not restore: no thanks\" and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
procs "v2 failed before it had planned: killed and reaped by v1, alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# One that never gets as far as planning: the commit waits for it until
# the update's start plus two timeouts (the dry run's, and the commit's to
# come), then refuses the update and kills it.
HOST_PROG_HANG_EARLY=1 run "socket mode, v2 hangs before it has planned" "$v1" --update-to "$v2" --mode socket --timeout-ms 1000
check "v2 hung before it had planned: v1 refuses the update, told why" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"the new version had not planned within 2000 ms\" and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
procs "v2 hung before it had planned: killed and reaped by v1, alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# An update that never commits - the dry run refuses it, or the commit
# fails at its start - with the new process started and waiting: it is
# killed and reaped before v1 goes on, and nothing of it stays open in v1.
# v1 is held as its dry run starts (after the new process's) until the new
# process has said, on a FIFO, that it runs.
for how in dry-run commit; do
	rm -f "$tmp/notify" "$tmp/early" && mkfifo "$tmp/notify" "$tmp/early"
	if [ $how = dry-run ]; then
		set -- env HOST_PROG_FAIL_VALIDATE=1
		fault=dry-run:hold@old why='^dry run: '
	else
		set --
		fault=dry-run:hold@old,commit:error@old why='^the commit: Input/output error$'
	fi
	HOST_PROG_STARTED=$tmp/early BATON_FAULT=$fault BATON_FAULT_NOTIFY=$tmp/notify \
		BATON_FAULT_RELEASE=$tmp/release \
		run "socket mode, never committed ($how), the new process started" \
		"$@" "$v1" --update-to "$v2" --mode socket &
	held_at "$tmp/notify" >/dev/null
	early=$(timeout 10 cat "$tmp/early")
	release
	wait $!
	unchecked=
	if [ "$early" = started ]; then ok "the new process runs before the update ends ($how)"; else
		not_ok "the new process runs before the update ends ($how)"
	fi
	check "never committed ($how): v1 goes on, as many fds as before" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and (.[1].why | test(\"$why\")) and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
	procs "never committed ($how): the new process killed and reaped by v1, which alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""
done

# FREEZE fails with the new process started and waiting: it is killed and
# reaped, and v1 goes on with as many fds as before (no copy leaked).
HOST_PROG_STARTED=$tmp/started BATON_FAULT=freeze:error@old run "socket mode, FREEZE fails after the new process started" \
	"$v1" --update-to "$v2" --mode socket
check "FREEZE fails: v1 goes on, told aborted, as many fds as before" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update aborted, the previous version goes on\" and (.[1].why | test(\"freeze: Input/output error\$\")) and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
procs "FREEZE fails: v2 killed and reaped by v1, which alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# A connection v1 does not hand over (a pipe's write end, close-on-exec,
# its read end preserved): the exec closes v1's number, and the keeper,
# which leaves v1's own numbers of the preserved fds open, closed its copy
# before FREEZE - v2 sees end of file before it takes over.
HOST_PROG_PEER=1 run "a connection not handed over, exec mode" "$v1" --update-to "$v2"
check "a connection v1 did not hand over is closed for its peer before v2 takes over: the keeper does not hold it" 'length == 2 and .[1].event == "restored" and .[1].version == 2 and .[1].peer == "eof"'
procs "a connection not handed over: one process, exit 0" "$all_exit0 and length == 1"

# The keeper is forked at the commit and says it is ready only just before
# FREEZE (lib/host/update.c): killed in between - v1 held as it starts
# the new process (socket mode) or in its freeze() (both modes) - the
# update is given up and v1 goes on with nothing lost, the keeper reaped.
# kill_keeper PID: its child the keeper, SIGKILLed, and waited for - its
# pidfd readable, bounded: PID, held, does not reap it meanwhile.
kill_keeper() {
	keeper=
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = baton-keeper ] && keeper=$c
	done
	if [ -n "$keeper" ]; then
		python3 -c 'import os, select, signal, sys
fd = os.pidfd_open(int(sys.argv[1]))
os.kill(int(sys.argv[1]), signal.SIGKILL)
sys.exit(0 if select.select([fd], [], [], 10)[0] else 1)' "$keeper" || keeper=
	fi
	echo "${keeper:-none}"
}
for at in socket:spawn socket:freeze exec:freeze; do
	mode=${at%%:*} phase=${at#*:}
	rm -f "$tmp/notify" && mkfifo "$tmp/notify"
	BATON_FAULT=$phase:hold@old BATON_FAULT_ONCE=$tmp/once-$mode-$phase BATON_FAULT_NOTIFY=$tmp/notify \
	BATON_FAULT_RELEASE=$tmp/release \
		run "the keeper killed before FREEZE ($mode mode, v1 held at $phase)" \
		"$v1" --update-to "$v2" --mode "$mode" &
	killed=$(kill_keeper "$(held_at "$tmp/notify")")
	release
	wait $!
	unchecked=
	if [ "$killed" != none ]; then ok "the keeper was there to kill ($mode mode, $phase)"; else
		not_ok "the keeper was there to kill ($mode mode, $phase)"
	fi
	check "the keeper killed before FREEZE ($mode mode, $phase): v1 goes on, told aborted, nothing lost, as many fds as before" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update aborted, the previous version goes on\" and (.[1].why | test(\"keeper|new version\")) and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
	procs "the keeper killed ($mode mode, $phase): v1 reaped it and the new process, alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""
done
if [ "$(cat "$tmp/started" 2>/dev/null)" = started ]; then ok "the new process had started before FREEZE"; else
	not_ok "the new process had started before FREEZE"
fi

# The old process killed inside the commit's transfer (fault point
# "transfer", lib/host/socket.c): the keeper told of the new process ('N')
# and the new process sent the keeper, the cell and the times, not yet the
# image and the fds.  The new one, its socket reset, says so and exits 1;
# the keeper, both gone and the cell LIVE, brings v1 back with everything,
# and v1 meets nothing of the dead update's (no channel, no new process).
BATON_FAULT=transfer:kill@old BATON_FAULT_ONCE=$tmp/once-transfer run "socket mode, v1 killed inside the commit's transfer" \
	"$v1" --update-to "$v2" --mode socket
check "v1 killed inside the transfer: the keeper brings v1 back, rolled back, told the old version died, nothing lost" "length == 3 and .[1].event == \"create-failed\" and .[1].version == 2 and .[1].error_text == \"Connection reset by peer\" and (.[2] | .event == \"restored\" and .version == 1 and .rolled_back and .why == \"the old version died during the update\" and .count == 101) and $same"
procs "v1 killed inside the transfer: v1 by our SIGKILL, v2 exit 1 saying why, v1 again exit 0" "length == 3 and (map(select(.how == \"signal\")) | length == 1 and .[0].name == \"host-prog-v1\" and .[0].code == 9) and (map(select(.name == \"host-prog-v2\")) | length == 1 and .[0].how == \"exit\" and .[0].code == 1) and (map(select(.name == \"host-prog-v1\" and .how == \"exit\")) | length == 1 and .[0].code == 0)" '^host-prog-v2: |live update: Connection reset by peer'

# A new process whose fd table fills before the image comes: said as it
# is, with the numbers, not as a malformed message.
BATON_FAULT=start:emfile@new run "socket mode, the new process runs out of fds" \
	"$v1" --update-to "$v2" --mode socket
check "out of fds receiving the image: v1 goes on, told how many fds against which limit" "length == 3 and ($v2_first | .[2].event == \"update-failed\" and .[2].version == 1 and (.[2].why | test(\"receiving the image: Too many open files: 1 fd to receive with [0-9]+ open, over the limit of [0-9]+ \\\\(RLIMIT_NOFILE\\\\)\$\"))) and $same"
procs "out of fds: v1 alone ended (it reaped v2), exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# The new process fails after the go is on its way, and hangs up with the
# go unread: the kernel then reports ECONNRESET on the old process's end
# before the 'E' queued there (a socket's pending error comes first).  v2
# is held at START - it said ready - until v1, stopped once it has sent
# the go, has the go in v2's socket; v2 is told to fail, and exits; v1
# goes on.  The new version's own reason must reach the client, not
# "exited (status 1)" (a third of the fault matrix's socket start:error
# cells, whose v2 a sanitizer's exit kept alive was then SIGKILLed).
rm -f "$tmp/notify" && mkfifo "$tmp/notify"
BATON_FAULT=start:hold@new,sent:stop@old BATON_FAULT_ONCE=$tmp/once-hangup BATON_FAULT_NOTIFY=$tmp/notify \
BATON_FAULT_RELEASE=$tmp/release \
	run "socket mode, the new process fails with the go unread" "$v1" --update-to "$v2" --mode socket &
# Two pids on one FIFO: both may be written before it is read, so each
# open is read to its end.
old_stopped= new_held=
for p in $(timeout 30 sh -c 'n=0; while [ $n -lt 2 ]; do
	while read -r p _; do echo "$p"; n=$((n + 1)); done <"$1"; done' notify "$tmp/notify"); do
	case $(cat /proc/"$p"/comm 2>/dev/null) in
	host-prog-v1) old_stopped=$p ;;
	host-prog-v2) new_held=$p ;;
	esac
done
timeout 30 sh -c 'echo error >"$1"' release "$tmp/release"
python3 -c 'import os, select, sys
sys.exit(0 if select.select([os.pidfd_open(int(sys.argv[1]))], [], [], 10)[0] else 1)' "${new_held:-none}" ||
	echo "# v2 (${new_held:-none}) did not exit"
[ -n "$old_stopped" ] && kill -CONT "$old_stopped"
wait $!
check "the new process failed with the go unread: v1 goes on, told the new version's own reason" "length == 3 and ($v2_first | .[1].event == \"create-failed\" and .[1].version == 2 and .[2].event == \"update-failed\" and .[2].version == 1 and .[2].why == \"the new version could not restore: host-prog v2 could not restore: telling the previous version we are ready: Input/output error\" and .[2].count == 101) and $intact and $same_pid"
procs "the new process failed with the go unread: v1 alone ended (it reaped v2), exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# The new version cannot be started (here: not executable, which
# posix_spawn() says at once): the update is refused at its start, before
# the dry run, nothing frozen; v1 goes on, with everything, and says so.
cp "$v2" "$tmp/v2-noexec" && chmod a-x "$tmp/v2-noexec"
run "socket mode, the new version cannot be started" "$v1" --update-to "$tmp/v2-noexec" --mode socket
check "the new version cannot be started: refused, v1 goes on in the same process, told why" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].why == \"starting the new version: Permission denied\" and .[1].count == 101 and $intact and $same_pid and .[0].fds == .[1].fds"
procs "the new version cannot be started: v1 alone, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""

# The commit copies every preserved fd (lib/host/serialize.c): under a hard
# limit with room for the program's fds but not for their copies, the
# update is refused before anything is frozen, saying what it needs, what
# is open and the limit; no copy is left open.
for mode in exec socket; do
	run "no room for the copies, $mode mode" sh -c 'ulimit -n 48 && exec "$@"' sh \
		"$v1" --update-to "$v2" --mode $mode --extra-fds 20
	check "no room for the fds' copies: refused before FREEZE, the need and the limit said; v1 runs on with as many fds as before ($mode mode)" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"Too many open files\" and (.[1].why | test(\"^copying the 27 preserved fds for the handover: Too many open files: 27 more fds needed with [0-9]+ open, over the limit of 48 \\\\(RLIMIT_NOFILE\\\\)\$\")) and .[1].frozen == 0 and .[1].extra_fds == 20 and $intact and $same_pid"
	procs "no room for the copies, $mode mode: v1 alone, exit 0" "$all_exit0 and length == 1"
done

# Each step of an update's start that takes fds, with the table full
# there (socket mode: the new process's socketpair too): --extra-fds
# leaves one fewer free each run, down to the update's first step.  Each
# step that runs out refuses the update saying so, with the limit to
# raise; v1 goes on with everything, in the same process.  The steps come
# in the order of the fds they leave: the copies (the most), the dry run,
# the new process, the target's contracts.
: >"$tmp/steps"
for extra in $(seq 24 44); do
	run "socket mode, $extra extra fds under a limit of 48" sh -c 'ulimit -n 48 && exec "$@"' sh \
		"$v1" --update-to "$v2" --mode socket --extra-fds "$extra"
	check "socket mode, $extra extra fds: refused before FREEZE, the limit said; v1 runs on with everything" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text != null and (.[1].why | test(\"Too many open files: (the fd table is full, at the limit of 48|[0-9]+ more fds needed with [0-9]+ open, over the limit of 48) \\\\(RLIMIT_NOFILE\\\\)\$\")) and .[1].frozen == 0 and .[1].extra_fds == $extra and $intact and $same_pid"
	procs "socket mode, $extra extra fds: v1 alone, exit 0" "$all_exit0 and length == 1"
	jq -rs '.[1].why // empty | sub(":.*"; "")' "$tmp/out" >>"$tmp/steps"
	# The first step of all: one fd fewer and v1 could not start.
	grep -q "^cannot read the contracts of" "$tmp/steps" && break
done
if jq -eRn '[inputs] | any(test("^copying the")) and any(test("^the dry run of .* could not start$")) and
	   any(. == "starting the new version") and any(test("^cannot read the contracts of"))' \
	   <"$tmp/steps" >/dev/null; then
	ok "a full fd table was met at the copies, the dry run's start, the new process's start and the target's contracts"
else
	not_ok "a full fd table was met at the copies, the dry run's start, the new process's start and the target's contracts"
	sort -u "$tmp/steps" | sed 's/^/#   /'
fi

# The old process stuck once it has sent everything: v2 takes over without
# it, and the keeper, told v2 finished, gives it until FINISH's deadline,
# then kills it - or it would hold v1's fds and memory for ever.
BATON_FAULT=sent:hang@old run "socket mode, the old process stuck after sending everything" \
	"$v1" --update-to "$v2" --mode socket --timeout-ms 1500
check "v2 takes over without the stuck old process" "length == 2 and .[1].event == \"restored\" and .[1].version == 2 and .[1].count == 101 and $same"
# reap exits 124 when it had to kill what was left at its limit, else as
# its command did: v1, killed (128 + 9).
if [ "$status" -eq 137 ]; then ok "the stuck old process did not outlive the update (reap did not time out)"; else
	not_ok "the stuck old process did not outlive the update (reap did not time out)"
	echo "# reap exited $status"
fi
procs "the keeper killed the stuck v1; the keeper and v2 exited 0" '[.[] | [.name, .how, .code]] | sort == [["baton-let-go", "exit", 0], ["host-prog-v1", "signal", 9], ["host-prog-v2", "exit", 0]]'

for failure in FAIL KILL HANG; do
	run "socket mode, v2 restore: $failure" env HOST_PROG_${failure}_RESTORE=1 \
		"$v1" --update-to "$v2" --mode socket --timeout-ms 2000
	check "socket mode, new process $(echo $failure | tr A-Z a-z)s in restore: v1 goes on as it was" "map(select(.version == 1)) | length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update aborted, the previous version goes on\" and $same and (map(select(.version == 1)) | .[0].fds == .[1].fds)"
	# The old process reaps the new one itself; a report would still show.
	procs "socket mode, v2 $failure: v1 alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""
done
check "and says why" '.[1].why == "the new version did not take over within 2000 ms"'

for own in fail kill hang; do
	HOST_PROG_OWN=$own run "socket mode, v2's own restore work: $own" "$v1" --update-to "$v2" --mode socket --timeout-ms 1500
	check "socket mode, own restore work $own: v1 goes on" "map(select(.version == 1)) | length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and $same and (map(select(.version == 1)) | .[0].fds == .[1].fds)"
	procs "socket mode, own work $own: v1 alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""
done

# ---- images a new version must not trust ----
printf 'BATONIMG but not really an image' >"$tmp/garbage.img"
run "a corrupt image" "$dir/hand-image" "$tmp/garbage.img" "$v2"
check "a corrupt image: refused with the reader's error, nothing restored" '. == [{"event":"create-failed","version":2,"error_text":"image truncated"}]'
procs "v2 exited 1, having said why" '[.[] | [.name, .how, .code]] == [["host-prog-v2", "exit", 1]]'
run "an unsealed image" "$dir/hand-image" --unsealed "$tmp/garbage.img" "$v2"
check "an unsealed image is not even read" '. == [{"event":"create-failed","version":2,"error_text":"Operation not permitted"}]'
procs "v2 exited 1, having said why" '[.[] | [.name, .how, .code]] == [["host-prog-v2", "exit", 1]]'

[ -n "$unchecked" ] && not_ok "$unchecked: its processes were never checked"
echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
