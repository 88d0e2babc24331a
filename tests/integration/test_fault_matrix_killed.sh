#!/bin/sh
# The fault matrix killed mid-run takes its cells' processes with it.
# fault_matrix.py gets SIGTERM while a cell runs - devsim serving, demo-host
# v1 with its keeper, a v2 hung in its restore, reap above them - and not
# one of them may be left: a stopped CI run once left two devsims serving,
# orphaned, 40 min later.  The end of each is waited for, bounded.
#
# usage: test_fault_matrix_killed.sh DEVSIM DEMO_HOST_DIR REAP
set -u
devsim=$1 hosts=$2 reap=$3
here=$(dirname "$0")
. "$here/tap.sh"

# Its temporary files where we can see them: none may be left.
mkdir "$tmp/tmpdir"
# The hung v2 is given the update's whole deadline, not the matrix's 2 s:
# under load the look below took longer than the cell, which then ended
# before it was seen.
TMPDIR=$tmp/tmpdir python3 "$here/fault_matrix.py" run --devsim "$devsim" --hosts "$hosts" \
	--reap "$reap" --results "$tmp/results.json" --mode socket --hang-ms 60000 \
	socket:restore:hang >"$tmp/tap" 2>&1 &
# shellcheck disable=SC2034 # tap_cleanup kills $pid if the script stops early
harness=$! pid=$!

# named PID NAME: PID is a live process called NAME.
named() {
	[ "$(cat /proc/"$1"/comm 2>/dev/null)" = "$2" ]
}
# cell_has NAME: a process of the cell, below the harness, is called NAME.
cell_has() {
	for p in $(descendants "$harness"); do
		named "$p" "$1" && return 0
	done
	return 1
}
# alive PID...: the ones still running (a zombie has ended).
alive() {
	for p in "$@"; do
		state=$(sed 's/.*) //' /proc/"$p"/stat 2>/dev/null | cut -c1)
		[ -n "$state" ] && [ "$state" != Z ] && echo "$p"
	done
}

if wait_for "a v2 hung in its restore beside devsim" 30 \
	'cell_has devsim && cell_has demo-host-v2'; then
	ok "the cell runs: devsim, reap, demo-host v1 and a v2 hung below the harness"
else
	not_ok "the cell runs: devsim, reap, demo-host v1 and a v2 hung below the harness"
	sed 's/^/#   /' "$tmp/tap"
fi
cell=$(descendants "$harness")
echo "# the cell: $(for p in $cell; do printf '%s ' "$p:$(cat /proc/"$p"/comm 2>/dev/null)"; done)"
# The cell's directory: whatever the cell starts after this look names it.
dir=$(for p in $cell; do named "$p" devsim && tr '\0' '\n' </proc/"$p"/cmdline; done |
	sed -n 's,/dev$,,p' | head -1)

kill -TERM "$harness"
wait "$harness"
status=$?
holds "the harness, killed, exits 128 + SIGTERM" '[ "$status" -eq 143 ]'

# named_after DIR: live processes whose arguments name the cell's directory.
named_after() {
	[ -n "$1" ] || return 0
	# shellcheck disable=SC2046 # one pid per word
	alive $(grep -lsF "$1/" /proc/[0-9]*/cmdline | cut -d/ -f3)
}
if wait_for "every process of the cell gone" 10 \
	'[ -z "$(alive $cell)" ] && [ -z "$(named_after "$dir")" ]'; then
	ok "no process of the cell outlives the harness (devsim, reap, v1, keeper, v2)"
else
	# shellcheck disable=SC2086 # one pid per word
	left=$( (alive $cell; named_after "$dir") | sort -u)
	echo "# left: $(for p in $left; do printf '%s ' "$p:$(cat /proc/"$p"/comm 2>/dev/null)"; done)"
	not_ok "no process of the cell outlives the harness (devsim, reap, v1, keeper, v2)"
	# shellcheck disable=SC2086 # one pid per word
	kill -KILL $left 2>/dev/null
fi
holds "the cell's directory is gone too" '[ -n "$dir" ] && [ ! -e "$dir" ]'
[ -n "$dir" ] && rm -rf "$dir"
left=$(ls -A "$tmp/tmpdir")
what="nothing else left in TMPDIR (reap's directory for sanitizer reports is the cell's)"
if [ -z "$left" ]; then ok "$what"; else
	not_ok "$what"
	echo "# left: $left"
fi
tap_done
