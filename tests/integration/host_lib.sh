# Sourced by the host tests (test_host*.sh): the scenario runner and the
# checks over what host_prog.c printed and the processes it led to.
# Each run prints one JSON line per start or failed update; every
# scenario checks where the program ended up, in which version, and
# that the region, the pipe's unread bytes, the eventfd count, the device
# state and the number of open fds all came through - and accounts for
# every process the scenario led to (tests/integration/reap.c): each must
# have exited 0, or ended as the scenario made it end.  TAP output.
#
# usage of each: test_host*.sh BUILD_DIR_OF_HOST_PROGS TEST_DRIVERS_V2
#
# ok, not_ok, wait_for, $tmp and the closing count are tap.sh's; check is
# this file's own, over every line printed (jq -s).
set -u
. "$(dirname "$0")/tap.sh"
dir=$1
drivers_v2=$2	# has contracts, but is no host: its dry run never reports
v1=$dir/host-prog-v1
v2=$dir/host-prog-v2

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

# The scenarios at an fd limit: "$fd_limit" N COMMAND... (fd_limit.py).
fd_limit=$(dirname "$0")/fd_limit.py

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
mkfifo "$tmp/release"

# host_done: the plan, last, and the failed checks again on stderr; the
# exit status.
host_done() {
	[ -n "$unchecked" ] && not_ok "$unchecked: its processes were never checked"
	tap_done
}
