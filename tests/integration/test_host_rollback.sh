#!/bin/sh
# The new version of tests/integration/host_prog.c fails after FREEZE:
# killed, hung or failing in its restore or its own work, in exec mode
# the keeper brings the old version back; in socket mode the old one
# goes on.  The helpers: host_lib.sh.
#
# usage: test_host_rollback.sh BUILD_DIR_OF_HOST_PROGS TEST_DRIVERS_V2
. "$(dirname "$0")/host_lib.sh"

# v1 starts with fd 9 inherited, not close-on-exec, as from a supervisor:
# an exec carries it, so the v1 the keeper brings back must have it too.
HOST_PROG_KILL_RESTORE=1 run "exec mode, v2 killed in restore" \
	sh -c 'exec "$0" "$@" 9<"$0"' "$v1" --update-to "$v2"
check "the keeper brings v1 back with the same image and fds, the inherited fd 9 too: nothing lost" "length == 2 and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and .[1].count == 101 and .[1].scratch == \"scratch\" and .[1].why == \"the new version died before it took over\" and $intact"
check "the v1 the keeper brings back has none of v1's own numbers of the preserved fds" '.[1].orig_before == "closed" and .[1].orig == "closed"'
check "it runs as the keeper's process, with v1's scheduling policy (the keeper's own is SCHED_BATCH)" '.[1].pid != .[0].pid and .[1].policy == "other"'
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

host_done
