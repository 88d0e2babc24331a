#!/bin/sh
# `baton demo`, as a user runs it: devsim's devices, demo-host v1 driving
# them, a live update to v2 and a refused way back, with the packets devsim
# generated counted against those the drivers received.  Then the control
# run, where the driver lets its connections close: devsim resets the
# devices and packets are lost - what Baton avoids.  TAP output.
#
# The demo grades itself; this test does not take its word.  Each run
# leaves two witnesses (--stats): devsim's own counters, written by devsim
# as it exits, and the drivers' own report, written by demo-host.  The test
# checks them against each other and against what `baton demo --json`
# says, and has devsim inject a lost packet, a duplicate and a device reset,
# one at a time, to see each reported exactly and the verdict fail.  Every
# run is under reap (tap.sh's expect): baton and every process it leaves
# behind must exit as expected, with no sanitizer report.  devsim and
# demo-host baton reaps itself, and says how they ended (`exits`).
#
# usage: test_demo.sh BATON BINDIR_OF_DEVSIM BINDIR_OF_DEMO_HOSTS REAP DEVSIM_CLIENT
# check() evaluates its condition, so the variables in it are used there:
# shellcheck disable=SC2016
set -u
baton=$1
REAP=$4	# for tap.sh's expect
demo_hosts=$3
bindir=$(mktemp -d)
# baton demo finds its three programs in one directory.
ln -s "$2/devsim" "$bindir/devsim"
ln -s "$3/demo-host-v1" "$3/demo-host-v2" "$bindir/"
. "$(dirname "$0")/tap.sh"
trap 'rm -rf "$bindir" "$tmp"' EXIT
stats=$tmp/stats

# demo NAME STATUS ARGS...: baton demo ARGS --stats $stats, by tap.sh's
# expect: under reap, every process must exit 0 (baton: STATUS), none may
# leave a sanitizer report.
demo() {
	what=$1 status=$2
	shift 2
	rm -rf "$stats"
	expect "$what" "$status" demo --bindir "$bindir" --stats "$stats" "$@"
}

# The witnesses, $d (devsim's counters) and $h (the drivers' report), as
# jq sees them: --slurpfile makes each an array of its one line.  With
# several devsim processes, $devsims is their files' devices in one list.
witness() {
	dj=${devsims:-$stats/devsim.json}
	if [ -s "$tmp/out" ] && [ -s "$dj" ] && [ -s "$stats/demo-host.json" ] &&
	   jq -e --slurpfile d "$dj" --slurpfile h "$stats/demo-host.json" \
		"def pktgens: [\$d[0].devices[] | select(.type == \"pktgen\")];
		 def driver(\$a): \$h[0].devices[] | select(.address == \$a);
		 $2" "$tmp/out" >/dev/null 2>&1; then
		ok "$1"
	else
		echo "# jq '$2' failed on:"
		sed 's/^/#   baton: /' "$tmp/out" | head -40
		sed 's/^/#   devsim: /' "$dj" | cut -c1-2000
		sed 's/^/#   demo-host: /' "$stats/demo-host.json"
		not_ok "$1"
	fi
}

# What holds in every run, whatever happened in it: each count of devsim's
# is matched by the drivers', and baton's sums are theirs.
witnesses_agree() {
	witness "$1: devsim's counters add up, and they name every pktgen device the drivers report" \
		'(pktgens | length) > 0 and (pktgens | length) == ($h[0].devices | length) and
		 all(pktgens[]; .generated == .written - .repeated + .dropped + .skipped and
		     (.address as $a | [driver($a)] | length == 1))'
	witness "$1: the drivers took in every packet devsim wrote and did not lose at a reset" \
		'all(pktgens[]; . as $x | driver($x.address) |
		     .received + .duplicated == $x.written - $x.lost_on_reset)'
	witness "$1: the drivers saw each gap and each repeat devsim made, no more" \
		'all(pktgens[]; . as $x | driver($x.address) |
		     .received + .lost == $x.generated and
		     .lost == $x.dropped + $x.skipped + $x.lost_on_reset and
		     .duplicated == $x.repeated)'
	# devsim counts one more reset per device at the end: demo-host exits
	# and its connections close, as on a last close of vfio-pci.
	witness "$1: baton demo --json says what devsim and the drivers say" \
		'.packets.generated == ([pktgens[].generated] | add) and
		 .packets.received == ([$h[0].devices[].received] | add) and
		 .packets.duplicated == ([$h[0].devices[].duplicated] | add) and
		 .packets.lost == .packets.generated - .packets.received and
		 .device_resets == ([$d[0].devices[].resets] | add) - ($d[0].devices | length) and
		 all(.devices[]; . as $b | driver($b.address) as $y |
		     (pktgens[] | select(.address == $b.address)) as $x |
		     $b.generated == $x.generated and $b.resets == $x.resets - 1 and
		     $b.received == $y.received and $b.duplicated == $y.duplicated) and
		 .exits == {"demo-host": "exit 0", "devsim": "exit 0"}'
}

demo "the demo, exec mode" 0 --json
check "verdict ok: nothing lost or duplicated, no device reset" '.verdict == "ok" and .packets.lost == 0 and .packets.duplicated == 0 and .device_resets == 0'
check "devsim's count of generated packets is what the drivers received" '.packets.generated > 0 and .packets.received == .packets.generated'
check "v1 -> v2 updated, with a blackout measured" '.updates[0] | .from == "demo-host v1" and .to == "demo-host v2" and .outcome == "updated" and .blackout_ms > 0'
check "each pktgen goes to nicx through the converter" '[.updates[0].decisions[] | select(.address | startswith("0000:01:"))] | length == 2 and all(.action == "convert" and .driver == "nicx")'
check "edu is bound to edu; the legacy device is quarantined, no driver" '.updates[0].decisions | (map(select(.address == "0000:02:00.0"))[0] | .action == "bind" and .driver == "edu") and (map(select(.address == "0000:03:00.0"))[0] | .action == "quarantine" and .driver == null)'
check "v2 -> v1 refused: v1 cannot read pktgen-state v2" '.updates[1] | .outcome == "refused" and .blackout_ms == null and ([.decisions[] | select(.address | startswith("0000:01:")) | .action] | unique == ["quarantine"])'
witnesses_agree "exec mode"
witness "exec mode: devsim reset nothing, skipped and repeated nothing; v2's nicx drivers report" \
	'$h[0].program == "demo-host v2" and all($h[0].devices[]; .driver == "nicx" and .device_reset == false and .lost == 0) and
	 all(pktgens[]; .skipped == 0 and .repeated == 0 and .dropped == 0 and .lost_on_reset == 0) and
	 all($d[0].devices[]; .resets == 1)'

demo "the demo, socket mode, four pktgen devices" 0 --mode socket --devices 4 --rate 10000 --json
check "socket mode: verdict ok over four devices" '.verdict == "ok" and .packets.lost == 0 and .packets.duplicated == 0 and .device_resets == 0 and ([.updates[0].decisions[] | select(.driver == "nicx")] | length == 4)'
witnesses_agree "socket mode"

# At scale: as many devsim processes as it takes, each writing its own
# witness; the accounting and the verdict are the same.  (1,024 devices is
# make bench's: bench/bench_devices.sh.)
# Socket mode's old process slow to go - held once it has sent everything,
# and never let go: the new process is the old one's child until the old
# one exits, so the demo waits for that (bounded, then kills it and says
# so) and only then has the new one as its own child to stop and reap at
# the end - not "unknown", found not yet its child (under ASan and load
# the old one's exit took that long once).
mkfifo "$tmp/never"
BATON_FAULT=sent:hold@old BATON_FAULT_ONCE=$tmp/once-held BATON_FAULT_RELEASE=$tmp/never \
	demo "the demo, socket mode, the old process never goes" 1 --mode socket --json
check "the update went ahead; the old process, killed, is a failure said; the new one stopped and reaped by the demo, exit 0" '.verdict == "failed" and .updates[0].outcome == "updated" and .exits["demo-host"] == "exit 0" and .packets.lost == 0'

demo "the demo, 40 pktgen devices over three devsim processes" 0 \
	--devices 40 --per-devsim 16 --rate 2000 --packets 200 --json
check "at scale: verdict ok, every device converted, three devsims" \
	'.verdict == "ok" and .packets.lost == 0 and .device_resets == 0 and .devsims == 3 and
	 (.devices | length) == 40 and ([.updates[0].decisions[] | select(.action == "convert")] | length) == 40'
holds "at scale: each devsim left its own witness" \
	'[ -s "$stats/devsim.json" ] && [ -s "$stats/devsim-1.json" ] && [ -s "$stats/devsim-2.json" ] &&
	 ! [ -e "$stats/devsim-3.json" ]'
jq -cs '{devices: [.[].devices[]]}' "$stats"/devsim*.json >"$tmp/devsims.json" 2>/dev/null
devsims=$tmp/devsims.json
witnesses_agree "at scale"
unset devsims

# Out of fds at scale: under a limit of 200, devsims serving 20 devices each
# fit, and demo-host, needing ~3 a device for 82 devices, says so - EMFILE
# as what it is, with the limit and the number needed; baton, which reaps
# the programs it started, exits 2 and leaves nothing running.
: >"$tmp/procs"
sh -c 'ulimit -n 200 && exec "$@"' sh "$REAP" -l "$tmp/procs" -t 60 -- \
	"$baton" demo --bindir "$bindir" --devices 80 --per-devsim 20 --rate 100 --packets 50 \
	>"$tmp/out" 2>"$tmp/err"
holds "out of fds: demo-host says how many the devices need and what the limit is" \
	'[ $? -eq 2 ] && grep -q "demo-host: 82 devices need up to 278 fds, the limit is 200 (ulimit -n)" "$tmp/err" &&
	 [ "$(cat "$tmp/procs")" = "$(sed -n "s/ baton exit 2\$//p" "$tmp/procs") baton exit 2" ]' ||
	sed 's/^/#   /' "$tmp/err" "$tmp/procs"
rm -rf "$(sed -n 's/^baton: demo: logs kept in //p' "$tmp/err")"

demo "the demo, human output" 0 --packets 500
if grep -q '^verdict: ok' "$tmp/out" && grep -q 'convert.*nicx' "$tmp/out" &&
   grep -q 'refused' "$tmp/out" && grep -q 'exits: demo-host exit 0, devsim exit 0' "$tmp/out"; then
	ok "it says what happened, how its programs ended, and the verdict"; else
	sed 's/^/#   /' "$tmp/out"; not_ok "it says what happened, how its programs ended, and the verdict"; fi

demo "the control run: connections dropped" 1 --drop-connections --json
# What the rings held at the reset is lost; the program drains them while
# the dry run runs, so that may be nothing: the resets are the failure.
check "without the connection, devsim resets each pktgen: the verdict says failed" '.verdict == "failed" and .device_resets >= 2'
check "the update itself still went ahead: the loss is the reset's" '.updates[0].outcome == "updated"'
witnesses_agree "control run"
witness "control run: each pktgen was reset once by the close, and v2 reconnected to it" \
	'all(pktgens[]; .resets == 2) and all($h[0].devices[]; .reconnects == 1)'

# fault NAME FAULT@SEQ WHAT JQ WITNESSED WITNESS_JQ: the demo with one
# fault, in the first pktgen device's stream: it must fail, and report
# exactly WHAT (JQ on its output); the witnesses must agree, and show
# WITNESSED.  Each fault comes early enough that v1 receives it: v2 must
# carry v1's count through the converter.
fault() {
	demo "$1 injected ($2)" 1 --inject "$2" --json
	check "$1: the verdict is failed, $3" ".verdict == \"failed\" and $4"
	witnesses_agree "$1"
	witness "$1: $5" "$6"
}

fault "a lost packet" loss@10 "exactly one packet lost, nothing else" \
	'.packets.lost == 1 and .packets.duplicated == 0 and .device_resets == 0 and
	 [.devices[] | .generated - .received] == [1, 0]' \
	"devsim skipped packet 10 and the driver saw the gap" \
	'pktgens[0].skipped == 1 and pktgens[1].skipped == 0 and
	 driver(pktgens[0].address).lost == 1 and driver(pktgens[1].address).lost == 0'
fault "a duplicate" dup@10 "exactly one duplicate, nothing lost or reset" \
	'.packets.lost == 0 and .packets.duplicated == 1 and .device_resets == 0 and
	 [.devices[].duplicated] == [1, 0]' \
	"devsim wrote packet 10 twice and the driver counted it once as a duplicate" \
	'pktgens[0].repeated == 1 and pktgens[1].repeated == 0 and
	 driver(pktgens[0].address).duplicated == 1 and driver(pktgens[0].address).lost == 0'
fault "a device reset" reset@300 "exactly one device reset, no packet lost or duplicated" \
	'.packets.lost == 0 and .packets.duplicated == 0 and .device_resets == 1 and
	 [.devices[].resets] == [1, 0] and .devices[0].generated == 300' \
	"devsim reset the device once its ring was consumed, and the driver found it reset" \
	'pktgens[0].resets == 2 and pktgens[0].lost_on_reset == 0 and pktgens[0].generated == 300 and
	 driver(pktgens[0].address).device_reset == true and driver(pktgens[1].address).device_reset == false'

demo "--devices out of range" 2 --devices 1025
demo "--per-devsim out of range" 2 --per-devsim 0
demo "--mode unknown" 2 --mode carrier-pigeon
demo "a missing bindir" 2 --bindir "$tmp/nowhere"
for bad in loss dup@0 reset@x@1 jitter@5 loss@-1 loss@1,loss@2; do
	demo "--inject $bad is a usage error" 2 --inject "$bad"
done
demo "--inject given twice is a usage error" 2 --inject loss@1 --inject dup@2

# A device the running version has no driver for, found after an update:
# demo-host v2 drives the edu and leaves the legacy device alone; v1,
# updated into, reads devsim's directory once it has taken over (not
# inside the blackout) and probes the legacy device, whose socket was
# there all along (no inotify event brings it).
mkdir -p "$tmp/devsim-l"
"$REAP" -l "$tmp/devsim-l.procs" -t 60 -- "$2/devsim" --dir "$tmp/devsim-l" \
	--device edu@0000:00:04.0 --device legacy@0000:00:05.0 >/dev/null 2>&1 &
devsim_l=$!
reapers="$reapers $devsim_l"
wait_for "devsim's two sockets" 10 \
	'[ -S "$tmp/devsim-l/0000:00:04.0.sock" ] && [ -S "$tmp/devsim-l/0000:00:05.0.sock" ]'
# start_host X [VAR=VALUE...]: demo-host v2 under reap, with those
# variables, on devsim's directory $tmp/devsim-X, its control socket
# $tmp/X.sock; its reaper's pid joins $reapers and is left in $started.
start_host() {
	x=$1
	shift
	"$REAP" -l "$tmp/host-$x.procs" -t 60 -- env "$@" "$demo_hosts/demo-host-v2" \
		--devsim "$tmp/devsim-$x" --control "$tmp/$x.sock" >/dev/null 2>"$tmp/host-$x.err" &
	started=$!
	reapers="$reapers $started"
}
# drivers X: the drivers of the devices the host on $tmp/X.sock drives, sorted.
drivers() { "$baton" status --socket "$tmp/$1.sock" --json 2>/dev/null | jq -c '[.devices[].driver] | sort'; }
drivers_l() { drivers l; }
start_host l
host_l=$started
wait_for "v2 to drive the edu" 10 '[ "$(drivers_l)" = "[\"edu\"]" ]'
holds "v2 drives the edu only: no driver for the legacy device" \
	'[ "$(drivers_l)" = "[\"edu\"]" ] && grep -q "0000:00:05.0.sock: no driver" "$tmp/host-l.err"'
expect "v2 -> v1 (exec mode)" 0 update --socket "$tmp/l.sock" --to "$3/demo-host-v1" --mode exec
wait_for "v1 to probe the legacy device" 10 '[ "$(drivers_l)" = "[\"edu\",\"legacy\"]" ]'
holds "v1, restored, found the legacy device in devsim's directory after FINISH and drives it" \
	'[ "$(drivers_l)" = "[\"edu\",\"legacy\"]" ]'
# The directory's inotify instance crossed the update (preserved, not
# torn down inside the exec): a device that appears now is seen through it.
"$REAP" -l "$tmp/devsim-m.procs" -t 60 -- "$2/devsim" --dir "$tmp/devsim-l" \
	--device edu@0000:00:06.0 >/dev/null 2>&1 &
devsim_m=$!
reapers="$reapers $devsim_m"
wait_for "v1 to probe the edu that appeared after the update" 10 \
	'[ "$(drivers_l)" = "[\"edu\",\"edu\",\"legacy\"]" ]'
holds "v1 probed the device that appeared after the update, through the watch it inherited" \
	'[ "$(drivers_l)" = "[\"edu\",\"edu\",\"legacy\"]" ] &&
	 [ "$(ls -l /proc/$("$baton" status --socket "$tmp/l.sock" --json | jq .pid)/fd | grep -c inotify)" = 1 ]'
for r in $host_l $devsim_l $devsim_m; do
	for p in $(descendants "$r"); do kill -TERM "$p" 2>/dev/null; done
	wait "$r"
done
accounted "demo-host and devsim ended well" "$tmp/host-l.procs"
accounted "... devsim too" "$tmp/devsim-l.procs"
accounted "... and the second devsim" "$tmp/devsim-m.procs"

# An edu reset while the update holds it: the new version's restore()
# starts reading its registers back and restore_complete() checks them
# once every edu's read is in flight; they are at power-on, so the restore
# fails, naming the device.  The new process is stopped at its first
# device's restore while devsim resets the second edu (its status socket's
# "reset").
#   socket mode  the old process goes on, driving the three edus;
#   exec mode    the keeper brings the previous binary back in place, and
#                its restore of that edu fails too: it lets that one go
#                (saying so in the answer) rather than give up the program,
#                and probes it anew once it has taken over.
# edu_reset MODE X
edu_reset() {
	mkdir -p "$tmp/devsim-$2"
	mkfifo "$tmp/notify-$2"
	"$REAP" -l "$tmp/devsim-$2.procs" -t 60 -- "$devsim_bin/devsim" --dir "$tmp/devsim-$2" \
		--status "$tmp/devsim-$2.status" --device edu@0000:00:04.0 \
		--device edu@0000:00:05.0 --device edu@0000:00:06.0 >/dev/null 2>&1 &
	devsim_x=$!
	reapers="$reapers $devsim_x"
	wait_for "devsim's three edus" 10 \
		"[ -S '$tmp/devsim-$2/0000:00:06.0.sock' ] && [ -S '$tmp/devsim-$2.status' ]"
	start_host "$2" BATON_FAULT=restore:stop@new BATON_FAULT_ONCE="$tmp/once-$2" \
		BATON_FAULT_NOTIFY="$tmp/notify-$2"
	host_x=$started
	edus='[ "$(drivers '"$2"')" = "[\"edu\",\"edu\",\"edu\"]" ]'
	wait_for "v2 to drive the three edus ($1 mode)" 10 "$edus"
	pid_x=$("$baton" status --socket "$tmp/$2.sock" --json | jq .pid)
	"$baton" update --socket "$tmp/$2.sock" --to "$demo_hosts/demo-host-v2" --mode "$1" \
		--json >"$tmp/update-$2" 2>&1 &
	update_x=$!
	read -r stopped _ <"$tmp/notify-$2"
	wait_for "the new version to stop at its restore" 10 \
		'[ "$(awk "{ print \$3 }" /proc/"$stopped"/stat 2>/dev/null)" = T ]'
	"$devsim_client" status "$tmp/devsim-$2.status" "reset 0000:00:05.0" >/dev/null
	kill -CONT "$stopped"
	wait "$update_x"
	cp "$tmp/update-$2" "$tmp/out"
	reason="could not restore: 0000:00:05.0 (edu): restore: bad property value"
	if [ "$1" = socket ]; then
		check "an edu reset during the update fails the new version's restore, naming it; the old process goes on" \
			".outcome == \"rolled-back\" and (.error | endswith(\"$reason\"))"
	else
		check "exec mode: the new version's restore fails, naming the edu; the previous binary, back in place, lets that edu go and says so" \
			".outcome == \"rolled-back\" and (.error | contains(\"$reason\")) and (.error | endswith(\"back in the previous version, 0000:00:05.0 (edu): restore: bad property value: let go unrestored\"))"
		wait_for "the previous version to probe that edu anew" 10 "$edus"
	fi
	holds "the program, still process $pid_x, drives the three edus" \
		"$edus"' && [ "$("$baton" status --socket "$tmp/'"$2"'.sock" --json | jq .pid)" = '"$pid_x"' ]'
	"$devsim_client" status "$tmp/devsim-$2.status" status >"$tmp/out"
	check "devsim reset only that edu, and only once: nothing else closed a connection" \
		'[.devices[] | [.address, .resets, .connected]] == [["0000:00:04.0", 0, true], ["0000:00:05.0", 1, true], ["0000:00:06.0", 0, true]]'
	for r in $host_x $devsim_x; do
		for p in $(descendants "$r"); do kill -TERM "$p" 2>/dev/null; done
		wait "$r"
	done
	accounted "demo-host and devsim ended well" "$tmp/host-$2.procs"
	accounted "... devsim too" "$tmp/devsim-$2.procs"
}
devsim_bin=$2
devsim_client=$5
edu_reset socket r
edu_reset exec x

# --backend drives real edu devices through VFIO (the VM test runs it,
# tests/vm/guest/vfio.sh); here its usage errors, and a machine with no
# edu bound to vfio-pci, said before anything starts.
expect "--backend unknown" 2 demo --bindir "$bindir" --backend floppy
expect "--backend with devsim's options" 2 demo --bindir "$bindir" --backend type1 --devices 3
expect "--backend with no edu bound to vfio-pci exits 2" 2 demo --bindir "$bindir" \
	--backend iommufd
if grep -q "^baton: demo: no edu device is bound to vfio-pci" "$tmp/err" &&
   ! grep -q "logs kept" "$tmp/err"; then
	ok "... saying so, and leaving nothing behind"
else
	sed 's/^/#   /' "$tmp/err"
	not_ok "... saying so, and leaving nothing behind"
fi

# devsim's fault options themselves: each bad one a usage error that says
# why, before anything is created.
pk=pktgen@0000:00:05.0
for bad in "$pk,loss=0" "$pk,dup=" "$pk,reset=-1" "$pk,loss=1x" "$pk,loss" "$pk,dup=3,dup=4" \
	   "$pk,loss=5,dup=5" "$pk,reset=5,dup=6" "edu@0000:00:04.0,loss=3" \
	   "$pk,loss=99999999999999999999"; do
	"$2/devsim" --dir "$tmp/x" --device "$bad" >/dev/null 2>"$tmp/err"
	holds "devsim --device '$bad' is a usage error, with a reason" \
		'[ $? -eq 2 ] && grep -q "^devsim: .*$bad" "$tmp/err" && ! [ -e "$tmp/x" ]'
done
"$2/devsim" --dir "$tmp/x" --stats "$tmp/nowhere/stats.json" --device "$pk" >/dev/null 2>"$tmp/err"
holds "devsim --stats in a missing directory fails at start, saying so" \
	'[ $? -eq 1 ] && grep -q "stats.json: No such file" "$tmp/err"'

tap_done
