# Shared by the integration scripts: TAP counters and the checks they make.
# Source it after setting $baton (for expect); it makes $tmp, removed on
# exit with the process in $pid killed (tap_cleanup, unless the script sets
# its own trap), and defines:
#
#   ok NAME / not_ok NAME         a result (not_ok shows the last output)
#   expect NAME STATUS ARGS...    run baton ARGS: stdout in $tmp/out,
#                                 stderr in $tmp/err; check the exit status
#                                 and that every process it led to is
#                                 accounted for (see below)
#   check NAME JQ_EXPR            the last output is not empty and
#                                 satisfies the expression
#   holds NAME SHELL_EXPR         the shell expression, evaluated, is true
#   accounted NAME LOG [ERE]      every process in reap's LOG exited 0, or
#                                 its line matches ERE; no sanitizer report
#   wait_for WHAT SECONDS EXPR    until the shell expression holds, for at
#                                 most SECONDS; says what it gave up on
#   descendants PID               every process below PID, one a line
#   tap_done                      the plan and the closing count (and the
#                                 failed checks again, on stderr); the exit
#                                 status of the script
#
# Every program a script starts runs under reap (tests/integration/reap.c,
# its path in $REAP, set by meson): a crash, an unexpected exit status or
# a sanitizer report in any process the program leads to fails the check
# that started it, with reap's log and the report.
# shellcheck shell=sh
. "$(dirname "$0")/wait_for.sh"

tmp=$(mktemp -d)
# The server a script runs, if any: killed on exit with $tmp removed; and
# whatever still runs below each reap in $reapers (a script that starts
# servers under reap adds each reap's pid), so that nothing is left.
pid= reapers=
tap_cleanup() {
	local r i left
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	for r in $reapers; do
		for i in 1 2 3 4 5; do
			left=$(descendants "$r")
			[ -z "$left" ] && break
			# shellcheck disable=SC2086 # one pid per word
			kill -KILL $left 2>/dev/null
		done
	done
	rm -rf "$tmp"
}
trap tap_cleanup EXIT
n=0 failed=0 failures=

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	failures="$failures
not ok $n - $1"
	[ -s "$tmp/err" ] && sed 's/^/# stderr: /' "$tmp/err" | head -20
	return 0
}

# accounted NAME LOG [ERE]: no line of LOG but "exit 0" ones and those
# matching ERE (reap logs "PID NAME exit N", "PID NAME signal N" and
# "PID NAME report LINES"); a report never matches.
accounted() {
	if grep -v ' exit 0$' "$2" | grep -Ev "${3:-^\$}" | grep -q . ||
	   grep -q '^[0-9]* [^ ]* report ' "$2"; then
		echo "# processes, one of which ended unexpectedly or reported:"
		sed 's/^/#   /' "$2"
		not_ok "$1"
		return 1
	fi
	ok "$1"
}

# expect NAME STATUS ARGS...: baton ARGS under reap, for at most 60 s.
# Only baton's own line may show STATUS; any other process must exit 0.
expect() {
	what=$1 status=$2
	shift 2
	if [ -z "${REAP:-}" ]; then
		echo "# REAP is not set: tap.sh runs every program under reap"
		not_ok "$what"
		return
	fi
	: >"$tmp/procs"
	"$REAP" -l "$tmp/procs" -t 60 -- "$baton" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -eq "$status" ] &&
	   ! grep -v ' exit 0$' "$tmp/procs" | grep -Evq "^[0-9]+ baton exit $status\$"; then
		ok "$what"
	else
		echo "# exit $got, expected $status: baton $*"
		sed 's/^/#   /' "$tmp/out" | head -20
		sed 's/^/#   process: /' "$tmp/procs"
		not_ok "$what"
	fi
}

check() {
	# jq -e passes on no input at all: an empty answer is a failure.
	if [ -s "$tmp/out" ] && jq -e "$2" "$tmp/out" >/dev/null 2>&1; then ok "$1"; else
		echo "# jq '$2' failed on:"
		sed 's/^/#   /' "$tmp/out" | head -40
		not_ok "$1"
	fi
}

# descendants PID: every process below PID, from /proc (the kernel lists
# each task's children when CONFIG_PROC_CHILDREN is set, as Debian's is).
descendants() {
	local c
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

holds() {
	if eval "$2"; then ok "$1"; else not_ok "$1"; fi
}

tap_done() {
	echo "1..$n"
	echo "# $((n - failed)) passed, $failed failed"
	# Again on stderr, last: what a log's tail shows of a failed run.
	[ "$failed" -eq 0 ] || printf '%s failed:%s\n' "${0##*/}" "$failures" >&2
	[ "$failed" -eq 0 ]
}
