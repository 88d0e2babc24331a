#!/bin/sh
# An update of a program run under valgrind (make check-valgrind), exec
# and socket mode: valgrind follows each exec (--trace-children), reports
# no error in any process, and the program ends as it began or updated,
# with everything - never killed by valgrind.  valgrind runs no clone()
# sharing the address space that is not a thread (mm.c's holder): under
# it there is none.  Before valgrind knew pidfd_open() (3.19, Debian 12's)
# the dry run cannot be watched: the update is refused, saying so, and
# the program goes on.  TAP output.
#
# usage: test_valgrind_update.sh BUILD_DIR_OF_HOST_PROGS SUPPRESSIONS
set -u
dir=$1
supp=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

for mode in exec socket; do
	timeout 300 valgrind -q --trace-children=yes --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite,indirect \
		--suppressions="$supp" \
		"$dir/host-prog-v1" --update-to "$dir/host-prog-v2" --mode "$mode" \
		>"$tmp/out" 2>"$tmp/err"
	status=$?
	n=$((n + 1))
	if [ "$status" -eq 0 ] && ! grep -q '^==[0-9]*==' "$tmp/err" &&
	   jq -es 'length == 2 and .[0].event == "started" and .[0].region_ok and
		   ((.[1].event == "restored" and .[1].version == 2 and .[1].count == 101) or
		    (.[1].event == "update-failed" and .[1].version == 1 and
		     (.[1].why | test("pidfd_open\\(\\): Function not implemented \\(needs Linux 5.3")) and
		     .[1].region_ok and .[1].fds == .[0].fds))' "$tmp/out" >/dev/null 2>&1; then
		echo "ok $n - $mode mode under valgrind: no error reported, the program updated or went on ($(jq -rs '.[1].event' "$tmp/out"))"
	else
		failed=$((failed + 1))
		echo "not ok $n - $mode mode under valgrind (exit $status)"
		sed 's/^/#   /' "$tmp/out" "$tmp/err" | head -60
	fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
