#!/bin/sh
# `baton status` and `baton update` against a program serving its control
# socket (host_prog.c --control): the update is asked for from outside, the
# answer comes from the version that ends up running.  TAP output.
#
# usage: test_control.sh BATON BUILD_DIR_OF_HOST_PROGS
set -u
baton=$1 dir=$2
v1=$dir/host-prog-v1
v2=$dir/host-prog-v2
. "$(dirname "$0")/tap.sh"
ctl=$tmp/ctl

# The program runs under reap: every version and keeper it leads to is
# logged in $tmp/prog.procs as it ends.  $pid is whichever process is the
# program now, killed on exit.
cleanup() {
	[ -n "${reaper:-}" ] && kill "$reaper" 2>/dev/null
	tap_cleanup
}
trap cleanup EXIT

# The program's next line on its stdout (a FIFO), within 10 s.
next_line() {
	timeout 10 sh -c 'IFS= read -r line && printf "%s\n" "$line"' <&3 >"$tmp/out"
}

mkfifo "$tmp/fifo" "$tmp/hold-loop"
HOST_PROG_HOLD_LOOP=$tmp/hold-loop \
	"$REAP" -l "$tmp/prog.procs" -t 120 -- "$v1" --control "$ctl" >"$tmp/fifo" 2>"$tmp/prog.err" &
reaper=$!
exec 3<"$tmp/fifo"
next_line
check "v1 started" '.event == "started" and .version == 1'
pid=$(jq .pid "$tmp/out")
next_line
check "v1 listens" '.event == "listening"'
start_pid=$pid

if [ "$(stat -c %a "$ctl")" = 600 ]; then ok "the control socket is 0600"; else not_ok "the control socket is 0600"; fi

expect "status" 0 status --socket "$ctl" --json
check "status: generation 0, devices, regions, fds" '.state == "running" and .generation == 0 and .program == "host-prog v1" and (.devices | length == 2) and .devices[0].driver == "counter" and .regions == [{"label":"data","size":1048576,"users":0},{"label":"pool","size":65536,"users":2},{"label":"counter-dma","size":4096,"users":1}] and (.sessions | map(.name) == ["", "extra"]) and (.sessions[0].fds | map(.kind) | sort == ["eventfd","pipe","pipe"]) and .sessions[1].fds == [{"token":3,"kind":"eventfd"}]'
expect "status text" 0 status --socket "$ctl"
holds "status text: schemas by name, shared regions, sessions" 'grep -q "device 0000:00:10.0  counter  schema counter-state v1 (" "$tmp/out" && grep -q "region \"pool\"  65536 bytes  shared by 2 devices" "$tmp/out" && grep -q "session \"extra\"  1 preserved fd$" "$tmp/out"'

expect "dry run" 0 update --socket "$ctl" --to "$v2" --dry-run --json
check "dry run: the plan, nothing done" '.outcome == "dry-run" and .decisions[0].action == "convert" and .decisions[0].driver == "tally" and .decisions[1].action == "quarantine"'
expect "still v1 after the dry run" 0 status --socket "$ctl" --json
check "generation still 0" '.generation == 0 and .program == "host-prog v1"'
expect "dry run, socket mode" 0 update --socket "$ctl" --to "$v2" --mode socket --dry-run --json
check "socket mode's dry run: the plan, nothing done" '.outcome == "dry-run" and .mode == "socket" and .decisions[0].action == "convert"'
expect "still v1 after it" 0 status --socket "$ctl" --json
check "generation still 0, the same process" ".generation == 0 and .program == \"host-prog v1\" and .pid == $start_pid"

# v2 is held once it listens, before its loop turns (HOST_PROG_HOLD_LOOP,
# this update only): the client is answered from the loop, after the
# program's own first work since FINISH - its held clients, in kvcache -
# not at FINISH (lib/host/control.c).  Answered at FINISH, it exited
# within milliseconds.
"$REAP" -l "$tmp/update.procs" -t 60 -- "$baton" update --socket "$ctl" --to "$v2" --json \
	>"$tmp/update.out" 2>"$tmp/update.err" &
update=$!
next_line
check "v2 restored everything, same PID" ".event == \"restored\" and .version == 2 and .pid == $start_pid and .region_ok and .pipe_bytes == 13 and .eventfd == 5 and .count == 100 and .converted == 1"
next_line
check "v2 listens on the inherited socket" '.event == "listening"'
holds "v2 held before its loop: baton update is not answered yet (2 s)" \
	'! timeout 2 tail --pid="$update" -f /dev/null'
timeout 10 sh -c 'echo go >"$1"' release "$tmp/hold-loop"
rm "$tmp/hold-loop"
wait "$update"
update_status=$?
holds "released, v2 answers: baton update exits 0 (exit $update_status)" \
	'[ "$update_status" -eq 0 ] && ! grep -v " exit 0\$" "$tmp/update.procs" | grep -q .'
cp "$tmp/update.out" "$tmp/out"
check "the new version answers: updated, with blackout and decisions" '.outcome == "updated" and .mode == "exec" and .generation == 1 and .program == "host-prog v2" and .blackout_ms > 0 and .decisions[0].action == "convert"'
expect "status after the update" 0 status --socket "$ctl" --json
check "status: v2, tally, scratch quarantined" '.generation == 1 and .program == "host-prog v2" and .devices[0].driver == "tally" and .devices[1].driver == null and .devices[0].schema_name == "counter-state" and .devices[0].schema_version == 2 and .devices[1].schema_name == "scratch-state" and .devices[1].schema_version == 1 and ([.sessions[].fds[]] | length == 4)'

expect "downgrade is refused by the preflight" 1 update --socket "$ctl" --to "$v1" --json
check "refused, with the reason" '.outcome == "refused" and .error == "mandatory 0000:00:10.0 would not be bound by host-prog-v1 (quarantine)" and .decisions[0].action == "quarantine"'
expect "v2 untouched after the refusal" 0 status --socket "$ctl" --json
check "still generation 1, v2" '.generation == 1 and .program == "host-prog v2"'

expect "update to a missing binary is invalid input" 2 update --socket "$ctl" --to "$tmp/nothing"
expect "socket mode: v2 -> v2 in a new process" 0 update --socket "$ctl" --to "$v2" --mode socket --json
check "the new process answers: updated, socket mode, generation 2" '.outcome == "updated" and .mode == "socket" and .generation == 2 and .blackout_ms > 0'
next_line
check "the new process restored everything" ".event == \"restored\" and .version == 2 and .pid != $start_pid and .region_ok and .pipe_bytes == 13 and .eventfd == 5"
pid=$(jq .pid "$tmp/out")
next_line
check "and listens on the same socket" '.event == "listening"'
# reap logs each process as it ends: the old one's line, within 10 s.
holds "the old process exited 0" \
	'timeout 10 tail -n +1 -f "$tmp/prog.procs" | grep -q -m 1 "^$start_pid host-prog-v2 exit 0\$"'
expect "status from the new process" 0 status --socket "$ctl" --json
check "generation 2, same devices, same fds" '.generation == 2 and .devices[0].driver == "tally" and ([.sessions[].fds[]] | length == 4)'
expect "no program at the socket" 2 status --socket "$tmp/nobody"

# A host with thousands of devices answers in hundreds of KiB: the client
# reads the whole line.  A stand-in program answers status with 4,000
# devices (~400 KiB), then with a line longer than the client's bound.
big_server() {
	python3 -c '
import json, socket, sys
srv = socket.socket(socket.AF_UNIX)
srv.bind(sys.argv[1]); srv.listen(2)
print("ready", flush=True)
devices = [{"address": "0000:%02x:%02x.0" % (i // 32, i % 32), "driver": "edu",
            "schema_name": "edu-state", "schema_version": 1, "pad": "x" * 40}
           for i in range(4000)]
answers = [json.dumps({"state": "running", "generation": 0, "program": "big",
                       "devices": devices, "regions": [], "sessions": []}).encode(),
           b"\"" + b"x" * (65 << 20)]
for a in answers:
    c, _ = srv.accept()
    c.makefile("rb").readline()
    try:
        c.sendall(a + b"\n")
    except OSError:
        pass
    c.close()
' "$1"
}
mkfifo "$tmp/big.ready"
big_server "$tmp/big.sock" >"$tmp/big.ready" &
big=$!
if [ "$(timeout 10 head -n 1 "$tmp/big.ready")" = ready ]; then
	expect "a status of 4,000 devices is read whole" 0 status --socket "$tmp/big.sock" --json
	check "all 4,000 devices are there" '.devices | length == 4000'
	expect "an answer beyond 64 MiB is refused" 2 status --socket "$tmp/big.sock" --json
	holds "and said so" 'grep -q "the answer is longer than 64 MiB" "$tmp/err"'
else
	not_ok "the stand-in program with 4,000 devices started"
fi
wait "$big"
holds "the stand-in program exited 0" '[ $? -eq 0 ]'

kill -TERM "$pid"
wait "$reaper"
reaper=
accounted "every process of the program exited 0 - the dry runs, the keepers, the old process - but the last, by our SIGTERM" \
	"$tmp/prog.procs" "^$pid host-prog-v2 signal 15\$"
holds "the program said nothing on stderr" '! [ -s "$tmp/prog.err" ]'

# The answer waits for the loop, but not past another update: v2, at
# generation 1, updates itself again at once through the API, before its
# loop turns (its arguments, which the update gives it, say so; the v2 it
# starts has none, and exits once restored); the client of the first
# update is answered before that exec, which would close its connection.
exec 3<&-
"$REAP" -l "$tmp/prog2.procs" -t 60 -- "$v1" --control "$tmp/ctl2" --update-to "$v2" --at-generation 1 \
	>"$tmp/fifo" 2>"$tmp/prog.err" &
reaper=$!
exec 3<"$tmp/fifo"
next_line
next_line
check "another v1 listens" '.event == "listening" and .version == 1'
expect "update v1 -> v2, which updates itself again before its loop turns" 0 update --socket "$tmp/ctl2" --to "$v2" --json
check "the first update's client is answered: updated, generation 1" '.outcome == "updated" and .generation == 1'
for generation in 1 2; do
	next_line
	check "then v2 restored generation $generation" ".event == \"restored\" and .version == 2 and .generation == $generation"
done
wait "$reaper"
reaper=
accounted "that program's processes all exited 0" "$tmp/prog2.procs"
holds "it said nothing on stderr" '! [ -s "$tmp/prog.err" ]'

tap_done
