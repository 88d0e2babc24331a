#!/bin/sh
# Socket-mode updates of tests/integration/host_prog.c - the new version
# is a new process - and their failures at every step, and the fd limits
# both modes meet.  The helpers: host_lib.sh.
#
# usage: test_host_socket.sh BUILD_DIR_OF_HOST_PROGS TEST_DRIVERS_V2
. "$(dirname "$0")/host_lib.sh"

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
# keeper_of PID: its child called baton-keeper, if there is one.
keeper_of() {
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = baton-keeper ] && echo "$c"
	done
}
# kill_keeper PID: its child the keeper, SIGKILLed, and waited for - its
# pidfd readable, bounded: PID, held, does not reap it meanwhile.  The
# keeper names itself once it runs, which on busy CPUs can be after PID
# has reached its hold point (a CI run met the keeper still called
# host-prog-v1): looked for until it has, bounded.
kill_keeper() {
	held=$1 keeper=
	wait_for "the keeper of $held to name itself" 10 'keeper=$(keeper_of "$held"); [ -n "$keeper" ]' >&2
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
	run "no room for the copies, $mode mode" "$fd_limit" 48 \
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
	run "socket mode, $extra extra fds under a limit of 48" "$fd_limit" 48 \
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
	check "socket mode, new process $(echo $failure | tr A-Z a-z)s in restore: v1 goes on as it was, its policy too (SCHED_BATCH while it waited)" "map(select(.version == 1)) | length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error_text == \"update aborted, the previous version goes on\" and .[1].policy == \"other\" and $same and (map(select(.version == 1)) | .[0].fds == .[1].fds)"
	# The old process reaps the new one itself; a report would still show.
	procs "socket mode, v2 $failure: v1 alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""
done
check "and says why" '.[1].why == "the new version did not take over within 2000 ms"'

for own in fail kill hang; do
	HOST_PROG_OWN=$own run "socket mode, v2's own restore work: $own" "$v1" --update-to "$v2" --mode socket --timeout-ms 1500
	check "socket mode, own restore work $own: v1 goes on" "map(select(.version == 1)) | length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and $same and (map(select(.version == 1)) | .[0].fds == .[1].fds)"
	procs "socket mode, own work $own: v1 alone ended, exit 0" "$all_exit0 and length == 1 and .[0].name == \"host-prog-v1\""
done

host_done
