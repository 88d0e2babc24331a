#!/bin/sh
# Exec-mode updates of tests/integration/host_prog.c and their failures.
# Each run prints one JSON line per start or failed update; every scenario
# checks where the program ended up, in which version, and that the region,
# the pipe's unread bytes, the eventfd count, the device state and the
# number of open fds all came through.  TAP output.
#
# usage: test_host.sh BUILD_DIR_OF_HOST_PROGS TEST_DRIVERS_V2
set -u
dir=$1
drivers_v2=$2	# has contracts, but is no host: its dry run never reports
v1=$dir/host-prog-v1
v2=$dir/host-prog-v2
BATON_ERR_REFUSED=21	# include/baton/error.h
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

# run NAME COMMAND...: run a scenario, bounded in time, lines to $tmp/out.
# Through a pipe, so that a socket-mode successor, which inherits stdout,
# has printed its line too before this returns.
run() {
	name=$1
	shift
	{ timeout 20 "$@" 2>"$tmp/err"; echo $? >"$tmp/status"; } | cat >"$tmp/out"
	status=$(cat "$tmp/status")
	if [ "$status" -ne 0 ]; then
		echo "# $name: exit $status"
		sed 's/^/#   /' "$tmp/out" "$tmp/err"
	fi
}

# check NAME JQ_EXPR: over the array of lines printed.
check() {
	n=$((n + 1))
	if jq -es "$2" "$tmp/out" >/dev/null 2>&1; then echo "ok $n - $1"; else
		failed=$((failed + 1))
		echo "not ok $n - $1"
		echo "# jq -s '$2' failed on:"
		sed 's/^/#   /' "$tmp/out"
	fi
}

# What must hold in every line: nothing lost, nothing leaked.
intact='all(.[]; .region_ok and .pipe_bytes == 13 and .eventfd == 5 and .session_eventfd == 7 and .frozen <= 0)
	and ([.[].fds] | unique | length == 1)
	and ([.[].pid] | unique | length == 1)'

run "update v1 -> v2" "$v1" --update-to "$v2"
check "v1 -> v2: two starts, same PID, everything intact" "length == 2 and $intact"
check "v2 restored generation 1 from v1's image" '.[1] | .event == "restored" and .version == 2 and .generation == 1 and .rolled_back == false and .region_inherited'
check "the renamed driver read v1 state through its converter" '.[1] | .count == 101 and .converted == 1'
check "a device v2 has no driver for is quarantined, not lost" '.[1].scratch == "quarantined"'
check "shared regions: each device uses its own again, and the quarantined scratch keeps using the pool" '.[0].pool_users == 2 and .[0].counter_dma_users == 1 and .[1].pool_users == 2 and .[1].counter_dma_users == 1'
check "blackout measured, FREEZE to FINISH" '.[1].blackout_us > 0 and .[1].blackout_us < 5000000'

run "a device added after a restore" "$v1" --update-to "$v2" -- --hotplug
check "a device the image does not hold is probed cold next to the restored one" 'length == 2 and .[0].hotplug == -1 and .[1].event == "restored" and .[1].count == 101 and .[1].hotplug == 100'

run "exec fails" "$v1" --update-to "$tmp/no-such-binary"
check "a failed exec leaves v1 running as it was" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error < 0 and $intact"

for op in preserve freeze; do
	run "$op fails" "$v1" --update-to "$v2" --fail "$op"
	check "a failing $op unwinds: v1 running, device unfrozen" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error < 0 and $intact"
done

HOST_PROG_FAIL_RESTORE=1 run "v2 cannot restore" "$v1" --update-to "$v2"
check "v2 failing to restore execs v1 with the same image" "length == 2 and .[1].event == \"restored\" and .[1].version == 1 and .[1].rolled_back and $intact"
check "v1 came back with its own state and drivers, and its generation" '.[1] | .count == 101 and .scratch == "scratch" and .generation == 0'

run "downgrade" "$v1" --update-to "$v2" -- --update-to "$v1" --at-generation 1
check "v1 cannot read counter-state v2: the preflight refuses, v2 runs on" "length == 3 and .[2].event == \"update-failed\" and .[2].version == 2 and .[2].error == -$BATON_ERR_REFUSED and $intact"

run "forced downgrade" "$v1" --update-to "$v2" -- --update-to "$v1" --at-generation 1 --force
check "forced: v1 runs, and the counter it cannot read is quarantined, not lost" "length == 3 and .[2].event == \"restored\" and .[2].version == 1 and .[2].generation == 2 and (.[2].rolled_back | not) and .[2].count == -1 and $intact"
check "the scratch device, quarantined by v2, is bound again by v1" '.[2].scratch == "scratch"'
check "the quarantined counter keeps its regions" '.[2].pool_users == 2 and .[2].counter_dma_users == 1'

run "forced downgrade, orphans reset" "$v1" --update-to "$v2" -- --update-to "$v1" --at-generation 1 --force --orphan-reset
check "a reset counter's region goes with it; the pool stays for scratch" 'length == 3 and .[2].event == "restored" and .[2].version == 1 and .[2].count == -1 and .[2].counter_dma_users == -1 and .[2].pool_users == 1 and .[2].fds == .[1].fds - 1'

run "devices removed" "$v1" --remove-devices
check "a shared region lives while it has a user, and goes with its last" 'length == 3 and .[1].pool_users == 1 and .[1].counter_dma_users == 1 and .[1].fds == .[0].fds and .[2].pool_users == -1 and .[2].counter_dma_users == -1 and .[2].fds == .[0].fds - 2'

HOST_PROG_FAIL_VALIDATE=1 run "the dry run rejects a state" "$v1" --update-to "$v2"
check "a payload v2 cannot decode refuses the update before FREEZE" "length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error == -$BATON_ERR_REFUSED and $intact"

run "the target never reports" "$v1" --update-to "$drivers_v2" --force
check "a dry run that gives no report refuses the update" "length == 2 and .[1].event == \"update-failed\" and .[1].error == -$BATON_ERR_REFUSED and $intact"

# ---- socket mode: the new version is a new process ----
same='all(.[] | select(.fds); .region_ok and .pipe_bytes == 13 and .eventfd == 5 and .session_eventfd == 7 and .frozen <= 0)'

run "socket mode" "$v1" --update-to "$v2" --mode socket --extra-fds 600
check "socket mode: v1 hands over, v2 restores in a new process" "length == 3 and ([.[].event] | sort == [\"handed-over\", \"restored\", \"started\"]) and (.[0].pid as \$old | map(select(.event == \"restored\"))[0] | .version == 2 and .pid != \$old) and $same"
check "600 extra fds crossed, beyond one SCM_RIGHTS message, counts intact" 'map(select(.event == "restored"))[0] | .extra_fds == 600 and .count == 101 and .converted == 1 and .blackout_us > 0'

for failure in FAIL KILL HANG; do
	run "socket mode, v2 restore: $failure" env HOST_PROG_${failure}_RESTORE=1 \
		"$v1" --update-to "$v2" --mode socket --timeout-ms 2000
	check "socket mode, new process $(echo $failure | tr A-Z a-z)s in restore: v1 goes on as it was" "map(select(.version == 1)) | length == 2 and .[1].event == \"update-failed\" and .[1].version == 1 and .[1].error < 0 and $intact"
done

# ---- images a new version must not trust ----
printf 'BATONIMG but not really an image' >"$tmp/garbage.img"
run "a corrupt image" "$dir/hand-image" "$tmp/garbage.img" "$v2"
check "a corrupt image: refused with the reader's error (TRUNCATED), nothing restored" '. == [{"event":"create-failed","version":2,"error":-1}]'
run "an unsealed image" "$dir/hand-image" --unsealed "$tmp/garbage.img" "$v2"
check "an unsealed image is not even read (IO)" '. == [{"event":"create-failed","version":2,"error":-18}]'

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
