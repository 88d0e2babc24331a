#!/bin/sh
# reap, the witness every integration script relies on, checked on its own:
# an orphan outliving the command is waited for and logged, the command's
# status (or 128 + its signal) is reap's, a timeout kills what is left and
# exits 124, and a sanitizer report in any descendant makes reap exit 125.
# TAP output.
#
# usage: test_reap.sh REAP (CC in env: the compiler for the report case)
set -u
REAP=$1
. "$(dirname "$0")/tap.sh"

log=$tmp/log
# The orphan blocks on a fifo the command never opens for writing; reap's
# wait for it ends when the test opens it.
mkfifo "$tmp/gate"
: >"$log"
"$REAP" -l "$log" -- sh -c "sh -c 'read x <\"$tmp/gate\"; exit 3' & exit 5" &
rpid=$!
wait_for "the orphan below reap" 10 '[ -n "$(descendants $rpid)" ] &&
	grep -q " sh exit 5$" "$log"'
holds "reap waits for an orphan that outlives the command" \
	'kill -0 $rpid 2>/dev/null'
echo >"$tmp/gate"
wait $rpid
holds "reap's status is the command's" '[ $? -eq 5 ]'
holds "the orphan's status is logged" \
	'[ "$(grep -c " sh exit [35]$" "$log")" -eq 2 ]'

: >"$log"
"$REAP" -l "$log" -- sh -c 'kill -TERM $$'
holds "a command killed by a signal gives 128 + it" '[ $? -eq 143 ]'
holds "and is logged as such" 'grep -q " sh signal 15$" "$log"'

: >"$log"
"$REAP" -l "$log" -t 1 -- sh -c "sh -c 'read x <\"$tmp/gate\"' & read y <\"$tmp/gate\""
holds "a timeout gives 124" '[ $? -eq 124 ]'
holds "and kills every descendant, each logged" \
	'[ "$(grep -c " sh signal 9$" "$log")" -eq 2 ]'

# A leak in a process below the command: LSan's report goes to reap's
# directory, not to a stderr the test reads, and fails the run whatever
# the process's own status.
cat >"$tmp/leak.c" <<'C'
#include <stdlib.h>
int main(void) { void *volatile p = malloc(64); p = 0; return 0; }
C
if ${CC:-cc} -fsanitize=address -g -o "$tmp/leak" "$tmp/leak.c" 2>"$tmp/err"; then
	: >"$log"
	ASAN_OPTIONS=detect_leaks=1:exitcode=0 "$REAP" -l "$log" -- \
		sh -c "\"$tmp/leak\"; exit 0" 2>"$tmp/err"
	holds "a sanitizer report below the command gives 125" '[ $? -eq 125 ]'
	holds "and is logged and copied to stderr" \
		'grep -q " leak report [0-9]*$" "$log" && grep -q LeakSanitizer "$tmp/err"'
else
	not_ok "${CC:-cc} -fsanitize=address builds a program"
fi
tap_done
