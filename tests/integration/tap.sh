# Shared by the integration scripts: TAP counters and the checks they make.
# Source it after setting $baton (for expect); it makes $tmp, removed on
# exit with the process in $pid killed (tap_cleanup, unless the script sets
# its own trap), and defines:
#
#   ok NAME / not_ok NAME         a result (not_ok shows the last output)
#   expect NAME STATUS ARGS...    run baton ARGS: stdout in $tmp/out,
#                                 stderr in $tmp/err; check the exit status
#   check NAME JQ_EXPR            the last output is not empty and
#                                 satisfies the expression
#   holds NAME SHELL_EXPR         the shell expression, evaluated, is true
#   tap_done                      the plan and the closing count; the exit
#                                 status of the script
# shellcheck shell=sh

tmp=$(mktemp -d)
# The server a script runs, if any: killed on exit with $tmp removed.
pid=
tap_cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap tap_cleanup EXIT
n=0 failed=0

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	[ -s "$tmp/err" ] && sed 's/^/# stderr: /' "$tmp/err" | head -20
	return 0
}

expect() {
	what=$1 status=$2
	shift 2
	"$baton" "$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" -eq "$status" ]; then ok "$what"; else
		echo "# exit $got, expected $status: baton $*"
		sed 's/^/#   /' "$tmp/out" | head -20
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

holds() {
	if eval "$2"; then ok "$1"; else not_ok "$1"; fi
}

tap_done() {
	echo "1..$n"
	echo "# $((n - failed)) passed, $failed failed"
	[ "$failed" -eq 0 ]
}
