# Shared by the kvcache integration scripts (bash), sourced after tap.sh:
# a kvcache server started and stopped as every one of them does it.
#
#   serve NAME BINARY ARGS...   BINARY under reap ($REAP), for at most
#                               $serve_limit s (110 unless set): its
#                               processes logged in $tmp/NAME.procs, its
#                               stderr in $tmp/NAME.err, its stdout on the
#                               FIFO $tmp/NAME.out read through fd $out_fd.
#                               Waits (10 s at most) for its first line,
#                               $line, and sets $port from it ("listening
#                               on 127.0.0.1:PORT"; empty if it said
#                               nothing such), $reaper (reap, added to
#                               tap.sh's $reapers) and $prog (reap's child)
#   serve_held NAME BINARY ARGS...
#                               serve, the server holding the commit of
#                               its first update (BATON_FAULT=commit:
#                               hold@old) until release_held; it writes
#                               its pid on the FIFO read through fd
#                               $notify_fd when it holds it
#   release_held NAME UPDATE    let that commit go on, then wait (60 s at
#                               most) for UPDATE, the pid of the `baton
#                               update` run in the background: one TAP line
#   stop NAME REAPER [PID]      SIGTERM to the one process left below
#                               REAPER (which must be PID, if given: the
#                               program after updates), within 10 s; then
#                               reap must exit 0 and tap.sh's accounted
#                               find every process in $tmp/NAME.procs
#                               ended with exit 0 or on that SIGTERM, with
#                               no sanitizer report.  Two TAP lines.
#
# The server is found below reap in /proc (tap.sh's descendants), never by
# name; every wait is bounded, nothing sleeps.
# shellcheck shell=bash
# $tmp comes from tap.sh; $port and $prog are for the caller; wait_for
# evaluates its expressions:
# shellcheck disable=SC2154,SC2034,SC2016

serve() {
	local name=$1
	shift
	mkfifo "$tmp/$name.out"
	"$REAP" -l "$tmp/$name.procs" -t "${serve_limit:-110}" -- "$@" \
		>"$tmp/$name.out" 2>"$tmp/$name.err" &
	reaper=$!
	reapers="$reapers $reaper"
	exec {out_fd}<"$tmp/$name.out"
	line=
	IFS= read -r -t 10 line <&"$out_fd" || echo "# $name said nothing within 10 s"
	port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' <<<"$line")
	prog=$(descendants "$reaper")
}

serve_held() {
	local name=$1
	mkfifo "$tmp/$name.notify" "$tmp/$name.release"
	# Read-write: opening it neither blocks nor sees an end of file.
	exec {notify_fd}<>"$tmp/$name.notify"
	BATON_FAULT=commit:hold@old BATON_FAULT_ONCE=$tmp/$name.once \
	BATON_FAULT_NOTIFY=$tmp/$name.notify BATON_FAULT_RELEASE=$tmp/$name.release \
		serve "$@"
}

release_held() {
	local name=$1 update=$2 release
	exec {release}>"$tmp/$name.release"
	echo >&"$release"
	exec {release}>&-
	if wait_for "the update to end" 60 '! kill -0 "$update" 2>/dev/null'; then
		wait "$update"
		ok "the update ran to its end (exit $?)"
	else
		not_ok "the update ran to its end"
	fi
}

stop() {
	local name=$1 reaper=$2 want=${3:-} left status
	if wait_for "$name: one process left below reap" 10 \
		'left=$(descendants "$reaper" | tr "\n" " ")
		 [ "$(wc -w <<<"$left")" = 1 ] && { [ -z "$want" ] || [ "$left" = "$want " ]; }'; then
		ok "$name: the one process left below reap (${left% })"
	else
		not_ok "$name: the one process left below reap (${left% }${want:+, want $want})"
	fi
	# shellcheck disable=SC2086 # one pid per word
	[ -n "$left" ] && kill -TERM $left
	if wait_for "$name to end after SIGTERM" 10 '! kill -0 "$reaper" 2>/dev/null'; then
		wait "$reaper"
		status=$?
	else
		status=timeout	# tap.sh's cleanup kills what is left
	fi
	if [ "$status" = 0 ] && [ -s "$tmp/$name.procs" ]; then
		accounted "$name: every process ended well ($(wc -l <"$tmp/$name.procs") of them)" \
			  "$tmp/$name.procs" "^${left% } [^ ]* signal 15\$"
	else
		sed "s/^/# $name: /" "$tmp/$name.procs"
		not_ok "$name: every process ended well (reap: $status)"
	fi
}
