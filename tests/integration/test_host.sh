#!/bin/sh
# Updates of tests/integration/host_prog.c, exec mode mostly: the update
# and the failures the program itself sees and says (the old version goes
# on, or the new one goes back in place), the preserved fds' numbers at
# FREEZE (socket mode too), downgrades, targets without VFIO; and images
# a new version must not trust.  The helpers: host_lib.sh.
#
# usage: test_host.sh BUILD_DIR_OF_HOST_PROGS TEST_DRIVERS_V2
. "$(dirname "$0")/host_lib.sh"

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
check "v2's dry run said its library reads runs of fds, so v1 wrote BATON_FDS in runs for its exec" '.[0].fds_listed == "" and .[1].fds_listed == "runs"' 
procs "exec mode, 600 extra fds: one process, exit 0 (the prefaulter reaped by v2)" "$all_exit0 and length == 1"
if [ "$(nproc)" -lt 2 ] || [ "${BATON_TEST_SANITIZED:-false}" = true ]; then
	ok "# SKIP the prefaulter: one CPU, or a sanitizer's allocator"
elif [ "$(awk '$3 == "prefault"' "$tmp/trace" | wc -l)" -eq 1 ]; then
	ok "v2 started the prefaulter, once, after the handover was read"
else
	not_ok "v2 started the prefaulter, once, after the handover was read"
	sed 's/^/#   /' "$tmp/trace"
fi
# From the keeper's fork on, each page v1 writes that it had before is a
# copy, a fault (~35 us here): what its exec needs - the environment,
# the marked fds' list - is made before FREEZE, and the blackout's last
# stretch, from the keeper's image to execve(), writes nothing it shares.
# The witness is the kernel's count of v1's minor faults at each trace
# note (getrusage()); a sanitizer's shadow and valgrind's own fault too.
faults=$(awk '$3 == "keeper" { k = $4 } $3 == "exec" { print $4 - k }' "$tmp/trace")
if [ "${BATON_TEST_SANITIZED:-false}" = true ]; then
	ok "# SKIP v1's faults in the blackout: a sanitizer's shadow pages"
elif [ "$faults" = 0 ]; then
	ok "v1's exec: no page fault from the keeper's image to execve()"
else
	not_ok "v1's exec: no page fault from the keeper's image to execve() (${faults:-no notes})"
	sed 's/^/#   /' "$tmp/trace"
fi
rm -f "$tmp/trace"

HOST_PROG_CHECK_MM=1 run "the old address space is held until FINISH" "$v1" --update-to "$v2"
check "v2, restoring before FINISH, still has baton-mm holding v1's address space (freed after FINISH, not inside the blackout)" 'length == 2 and .[0].mm_held == -1 and .[1].event == "restored" and .[1].mm_held == 1'
procs "v2 told baton-mm to go after FINISH and reaped it: one process, exit 0" "$all_exit0 and length == 1"

# Woken once the update is over, the keeper, the holder and socket mode's
# old process go, and their exits tear down what they held: none may take
# a CPU from the new version then (each made SCHED_BATCH, which does not
# preempt on waking: lib/host/keeper.c, mm.c, socket.c), and the program
# runs as it ran.  v2 held at its take-over, in each mode; the policies
# read from /proc (a policy is the 41st field of stat, 3 SCHED_BATCH).
# In exec mode v1 has 64 MiB in use, which the holder frees after FINISH a
# slice at a time, asleep between slices as long as it worked (mm.c):
# strace, attached to it while v2 is held (and seen tracing its wait: it
# says "attached" before it is), is the witness - several munmap()s that
# cover the 64 MiB, a sleep once they have taken a millisecond (-T: each
# call's time, which the holder's own clock includes), and an exit 0.
command -v strace >/dev/null || { echo "Bail out! strace is missing: run scripts/deps as root"; exit 1; }
policy_of() { # PID: its policy, or "gone"
	p=$(sed -n 's/^.*) //p' "/proc/${1:-0}/stat" 2>/dev/null | awk '{ print $39 }')
	echo "${p:-gone}"
}
for mode in exec socket; do
	rm -f "$tmp/notify" && mkfifo "$tmp/notify"
	resident=0 && [ $mode = exec ] && resident=64
	HOST_PROG_RESIDENT_MIB=$resident \
	BATON_FAULT=take-over:hold@new BATON_FAULT_NOTIFY=$tmp/notify BATON_FAULT_RELEASE=$tmp/release \
		run "$mode mode, v2 held at its take-over" "$v1" --update-to "$v2" --mode $mode &
	updating=$!
	new=$(held_at "$tmp/notify")
	old=$new
	[ $mode = socket ] && old=$(ps -o ppid= -p "$new" | tr -d ' ')
	seen="v2 $(policy_of "$new"), keeper $(policy_of "$(pgrep -P "$old" -x baton-keeper)")"
	if [ $mode = exec ]; then
		mm=$(pgrep -P "$new" -x baton-mm)
		seen="$seen, holder $(policy_of "$mm")"
		want="v2 0, keeper 3, holder 3"
		timeout 60 strace -T -e trace=munmap,clock_nanosleep,rt_sigtimedwait -o "$tmp/mm.strace" \
			-p "${mm:-0}" 2>"$tmp/strace.err" &
		tracing=$!
		wait_for "strace to see baton-mm's wait" 10 'grep -q rt_sigtimedwait "$tmp/mm.strace"'
	else
		seen="$seen, v1 $(policy_of "$old")"
		want="v2 0, keeper 3, v1 3"
	fi
	release
	wait $updating
	if [ "$seen" = "$want" ]; then ok "$mode mode, at the take-over: $seen"; else
		not_ok "$mode mode, at the take-over: $seen, want $want"
	fi
	if [ $mode = exec ]; then
		wait $tracing
		read -r slices freed took sleeps <<-EOF
		$(awk -F'[(,)<>]' '/^munmap\(0x[0-9a-f]+, [0-9]+\) += 0 <[0-9.]+>$/ { n++; b += $3; t += $(NF - 1) }
			/^clock_nanosleep\(/ { s++ }
			END { printf "%d %.0f %.6f %d\n", n, b, t, s }' "$tmp/mm.strace")
		EOF
		if [ "$slices" -ge 2 ] && [ "$freed" -ge $((64 << 20)) ] &&
		   { [ "$sleeps" -ge 1 ] || awk -v t="$took" 'BEGIN { exit !(t < 0.001) }'; } &&
		   [ "$(tail -n 1 "$tmp/mm.strace")" = "+++ exited with 0 +++" ]; then
			ok "exec mode: the holder freed v1's memory in $slices munmap()s ($freed bytes, $took s), asleep $sleeps times between"
		else
			not_ok "exec mode: the holder freed v1's memory in $slices munmap()s ($freed bytes, $took s), asleep $sleeps times between"
			sed 's/^/#   /' "$tmp/strace.err" "$tmp/mm.strace"
		fi
	fi
	check "$mode mode: v2 took over, and runs as v1 ran" "(map(select(.event == \"restored\"))[0] | .version == 2 and .policy == \"other\" and .count == 101) and .[0].policy == \"other\" and $same"
	procs "$mode mode, held at the take-over: no process died" "$all_exit0"
done

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
# The exec's environment is made before FREEZE (lib/host/update.c): a
# marked fd a driver closes at freeze() is taken off its list in place -
# here the only one, so BATON_CLOSE_FDS goes; listed, v2 would refuse it.
run "the marked epoll closed at freeze()" "$v1" --update-to "$v2" --close-after-finish --fail close-linger -- --close-after-finish
check "a marked fd closed at freeze() is not named to v2, which takes over" "length == 2 and $same_pid and .[1].event == \"restored\" and .[1].version == 2 and .[1].rolled_back == false and .[1].linger_before == \"closed\" and .[1].count == 101"
procs "the marked epoll closed at freeze(): one process, exit 0" "$all_exit0 and length == 1"
# The exec fails: the target, there for the preflight and the dry run, is
# gone when v1, held just before its handover, goes on.
ln -s "$v2" "$tmp/v2-link" && mkfifo "$tmp/notify"
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
check "...and writes BATON_FDS one number a fd, which a library older than runs reads" '.[1].fds_listed == "numbers"' 
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
check "going back, v2 wrote v1 one number a fd (a library older than runs reads that)" '.[1].fds_listed == "numbers"' 
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

HOST_PROG_DRY_RUN_REFUSE=1 run "the program's dry-run hook refuses" "$v1" --update-to "$v2"
check "refused before FREEZE in the hook's words, which name the image's regions as v1 made them" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"dry run: the program: regions: data 1048576 pool 65536 counter-dma 4096\" and $intact"
procs "no process died" "$all_exit0"
# A dry run goes as far as an update before its commit: the target's dry
# run, and its hook, are asked too.
run "a dry run" "$v1" --update-to "$v2" --dry-run
check "a dry run that would go ahead: v1 goes on, nothing touched" "length == 2 and .[1].event == \"dry-run\" and .[1].version == 1 and .[1].error == 0 and .[1].count == 101 and $intact and $same_pid"
procs "a dry run: one process, exit 0 (the target's dry run reaped)" "$all_exit0 and length == 1"
HOST_PROG_DRY_RUN_REFUSE=1 run "a dry run the program's dry-run hook refuses" "$v1" --update-to "$v2" --dry-run
check "refused as the update would be, in the hook's words" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update refused\" and .[1].why == \"dry run: the program: regions: data 1048576 pool 65536 counter-dma 4096\" and $intact"
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


# ---- images a new version must not trust ----
printf 'BATONIMG but not really an image' >"$tmp/garbage.img"
run "a corrupt image" "$dir/hand-image" "$tmp/garbage.img" "$v2"
check "a corrupt image: refused with the reader's error, nothing restored" '. == [{"event":"create-failed","version":2,"error_text":"image truncated"}]'
procs "v2 exited 1, having said why" '[.[] | [.name, .how, .code]] == [["host-prog-v2", "exit", 1]]'
run "an unsealed image" "$dir/hand-image" --unsealed "$tmp/garbage.img" "$v2"
check "an unsealed image is not even read" '. == [{"event":"create-failed","version":2,"error_text":"Operation not permitted"}]'
procs "v2 exited 1, having said why" '[.[] | [.name, .how, .code]] == [["host-prog-v2", "exit", 1]]'

host_done
