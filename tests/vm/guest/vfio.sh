# SPDX-License-Identifier: MIT
# shellcheck shell=sh disable=SC3045,SC2094,SC2034 # busybox ash reads with -t; the FIFO is read and written by design; SCENARIO is the init's
#
# Baton VM test, guest side: the vfio scenario (baton_vm=vfio), sourced
# by tests/vm/guest/init, which provides say, fail, finish, jstr,
# edu_devices and uptime_s.
#
# The LUO kernel (it has type1 and iommufd), one boot, no kexec: six edu
# devices bound to vfio-pci, each driven by vfio-edu (built on libbaton,
# tests/vm/guest/vfio_edu.c) and updated live by `baton update`:
#
#   edu0 type1 exec, edu1 type1 socket, edu2 iommufd exec,
#   edu3 iommufd socket: v1 probes (maps a region at IOVA 0x200000, sets
#     liveness and factorial, DMAs a known buffer, gets an interrupt);
#     the update to v2 (driver renamed, state converted) maps nothing,
#     checks the registers and the earlier buffer, DMAs a new buffer to
#     the same IOVA and gets its interrupt on the preserved eventfd;
#   edu4 type1: an update to v0, whose driver reads no schema of v1's, is
#     refused by the preflight; then v1, sent SIGUSR1, DMAs again; then
#     an update to a v2 whose restore fails once it has adopted the device
#     and its mapping: v1 comes back, adopts them again and DMAs; then
#     what v2 cannot take: a v2 without the VFIO backend (refused by the
#     dry run), a v2 adopting the fds as another device's or swapped
#     (refused by the adopt, rolled back), the kernel refusing the freeze
#     at PREPARE's check and at FREEZE (refused, aborted); v1 DMAs after
#     each, and an update after them all works;
#   edu5: the control run, type1 then iommufd: the mapping closed with
#     the device and not made again, the DMA faults (DMAR in dmesg); then
#     type1 socket again with INTx instead of MSI (masked by vfio-pci at
#     each interrupt, unmasked by the driver);
#   devsim's edu over vfio-user, exec and socket: the same update of the
#     same driver, whose blackout the VFIO ones are compared with;
#   first, all six at once: demo-host --vfio type1, then iommufd, updated
#     live to v2 (the demo's edu driver, unchanged from devsim); then
#     `baton demo --backend type1`, and iommufd, the same there and back.
#
# Every program reports one JSON line per event into one FIFO, which this
# script reads with a bound (read -t); nothing sleeps.  The result is one
# line BATON-VM-RESULT {json} that tests/vm/vfio.sh judges.

VFIO_WAIT=60	# seconds for one event under TCG
VFIO_REPEAT=4	# updates v2 -> v2 after the first, for the blackout's spread

# The next line a program reported, into $LINE; fail at the bound.
next_event() {
	read -t $VFIO_WAIT -r LINE <&3 || fail "no event from vfio-edu in $VFIO_WAIT s ($1)"
	echo "$LINE"
}

# vfio_update NAME BACKEND DEVICE MODE [ARG...]: v1 up (with ARGs), the
# update to v2, the restore's and the new version's events, into the
# result as NAME.
vfio_update() {
	name=$1
	sock=/run/$name.sock
	backend=$2
	device=$3
	mode=$4
	shift 4
	BATON_TRACE=/run/trace-$name vfio-edu-v1 --backend "$backend" --device "$device" \
		--control "$sock" --report /run/events --ready-fd 4 "$@" 4>/run/events &
	next_event "$name: probe"
	probe=$LINE
	next_event "$name: ready"
	[ "$LINE" = ready ] || fail "$name: expected ready, got $LINE"
	baton update --socket "$sock" --to /usr/bin/vfio-edu-v2 --mode "$mode" --json \
		>"/run/$name-update.json" 2>"/run/$name-update.err"
	rc=$?
	cat "/run/$name-update.err"
	update=$(jfile "/run/$name-update.json")
	restore=null
	after=null
	repeats=""
	if [ $rc -eq 0 ]; then
		next_event "$name: restore"
		restore=$LINE
		next_event "$name: after the update"
		after=$LINE
		# v2 into itself, VFIO_REPEAT times: the blackout's spread.
		i=0
		while [ $i -lt $VFIO_REPEAT ]; do
			i=$((i + 1))
			baton update --socket "$sock" --to /usr/bin/vfio-edu-v2 --mode "$mode" \
				--json >/run/repeat.json 2>/run/repeat.err
			r=$?
			cat /run/repeat.err
			ms=$(sed -n 's/.*"blackout_ms": *\([0-9.]*\).*/\1/p' /run/repeat.json)
			if [ $r -eq 0 ]; then
				next_event "$name: restore $i"
				r_restore=$LINE
				next_event "$name: after update $i"
				r_after=$LINE
			else
				r_restore=null
				r_after=null
			fi
			repeats="$repeats${repeats:+,}{\"rc\":$r,\"blackout_ms\":${ms:-null},\"restore\":$r_restore,\"after\":$r_after}"
		done
	fi
	# The phases of every update (lib/host/trace.c), for the host.
	sed "s/^/vfio-trace $name /" "/run/trace-$name"
	printf '"%s":{"device":"%s","mode":"%s","probe":%s,"update_rc":%s,"update":%s,"restore":%s,"after":%s,"repeats":[%s]},' \
		"$name" "$device" "$mode" "$probe" "$rc" "$update" "$restore" "$after" "$repeats" \
		>>/run/vfio-result
}

# demo-host-v1 --vfio BACKEND drives every edu (its edu driver is the one
# it runs on devsim), updated live to v2 in exec mode, then stopped: the
# devices' last close, before the other cases open them.
vfio_demo_host() {
	demo-host-v1 --vfio "$1" --control /run/demo.sock --ready-fd 4 4>/run/events \
		2>"/run/demo-host-$1.log" &
	pid=$!
	next_event "demo-host $1: ready"
	baton update --socket /run/demo.sock --to /usr/bin/demo-host-v2 --json \
		>"/run/demo-$1.json" 2>"/run/demo-$1.err"
	rc=$?
	cat "/run/demo-$1.err"
	kill -TERM $pid
	wait $pid
	exit_rc=$?
	printf '"demo_host_%s":{"update_rc":%s,"update":%s,"exit":%s},' "$1" $rc \
		"$(jfile "/run/demo-$1.json")" $exit_rc >>/run/vfio-result
	cat "/run/demo-host-$1.log"
}

# `baton demo --backend BACKEND`: the same, told by the command.
vfio_demo_cmd() {
	baton demo --backend "$1" --bindir /usr/bin --json >"/run/demo-cmd-$1.json" \
		2>"/run/demo-cmd-$1.err"
	rc=$?
	cat "/run/demo-cmd-$1.err"
	printf '"demo_cmd_%s":{"rc":%s,"out":%s},' "$1" $rc "$(jfile "/run/demo-cmd-$1.json")" \
		>>/run/vfio-result
}

# The hostile case: an update v1 -> v0 the preflight refuses; v1 goes on.
vfio_refused() {
	sock=/run/refused.sock
	vfio-edu-v1 --backend type1 --device "$1" --control "$sock" \
		--report /run/events --ready-fd 4 4>/run/events &
	pid=$!
	next_event "refused: probe"
	probe=$LINE
	next_event "refused: ready"
	baton update --socket "$sock" --to /usr/bin/vfio-edu-v0 --json \
		>/run/refused-update.json 2>/run/refused-update.err
	rc=$?
	cat /run/refused-update.err
	kill -USR1 $pid
	next_event "refused: v1 after the refusal"
	after=$LINE
	# v2 adopts the device and its mapping, then its restore fails: v1
	# comes back (exec mode: the same pid), adopts them again, and drives.
	: >/run/vfio-edu-fail-restore
	baton update --socket "$sock" --to /usr/bin/vfio-edu-v2 --mode exec --json \
		>/run/failed-update.json 2>/run/failed-update.err
	frc=$?
	rm /run/vfio-edu-fail-restore
	cat /run/failed-update.err
	next_event "failed restore: v2 restore"
	f_restore=$LINE
	next_event "failed restore: v2 fails"
	f_fails=$LINE
	next_event "failed restore: v1 back, its restore"
	f_back=$LINE
	next_event "failed restore: v1 back, its DMA"
	f_back_dma=$LINE
	kill -USR1 $pid
	next_event "failed restore: v1 after"
	printf '"refused":{"device":"%s","probe":%s,"update_rc":%s,"update":%s,"after":%s,' \
		"$1" "$probe" "$rc" "$(jfile /run/refused-update.json)" "$after" >>/run/vfio-result
	printf '"failed_rc":%s,"failed":%s,"failed_restore":%s,"failed_fails":%s,"back":%s,"back_dma":%s,"back_after":%s},' \
		$frc "$(jfile /run/failed-update.json)" "$f_restore" "$f_fails" "$f_back" \
		"$f_back_dma" "$LINE" >>/run/vfio-result
	vfio_cannot_take "$sock" $pid
}

# exec_update SOCK TARGET NAME: an exec-mode update, its answer in
# /run/NAME.json, its exit status in $rc.
exec_update() {
	baton update --socket "$1" --to "$2" --mode exec --json >"/run/$3.json" 2>"/run/$3.err"
	rc=$?
	cat "/run/$3.err"
}

# What a target cannot take over is refused before FREEZE, or undone
# after it; v1 (pid $2, control socket $1) drives the device after each.
vfio_cannot_take() {
	# A target linked with a libbaton without the kernel's VFIO: its dry
	# run lists its backends, v1 refuses.
	exec_update "$1" /usr/bin/vfio-edu-v2-novfio novfio
	kill -USR1 "$2"
	next_event "novfio: v1 after"
	printf '"novfio":{"rc":%s,"update":%s,"after":%s},' $rc "$(jfile /run/novfio.json)" \
		"$LINE" >>/run/vfio-result
	# v2 adopting the fds as another device's, then with two swapped:
	# refused by the adopt, the update rolled back, v1 back in its place.
	for how in device kinds; do
		echo $how >/run/vfio-edu-misadopt
		exec_update "$1" /usr/bin/vfio-edu-v2 misadopt
		rm /run/vfio-edu-misadopt
		next_event "misadopt $how: v2 restore"
		m_restore=$LINE
		next_event "misadopt $how: v1 back, its restore"
		m_back=$LINE
		next_event "misadopt $how: v1 back, its DMA"
		printf '"misadopt_%s":{"rc":%s,"update":%s,"restore":%s,"back":%s,"back_dma":%s},' \
			$how $rc "$(jfile /run/misadopt.json)" "$m_restore" "$m_back" "$LINE" \
			>>/run/vfio-result
	done
	# The kernel refusing the freeze (an address invalidated behind the
	# handle's back): at PREPARE's check, then at FREEZE itself.
	for at in prepare freeze; do
		echo $at >/run/vfio-edu-invalidate
		exec_update "$1" /usr/bin/vfio-edu-v2 invalidate
		next_event "invalidate $at: invalidated"
		inv=$LINE
		kill -USR1 "$2"
		next_event "invalidate $at: v1 after"
		printf '"invalidate_%s":{"rc":%s,"update":%s,"invalidated":%s,"after":%s},' \
			$at $rc "$(jfile /run/invalidate.json)" "$inv" "$LINE" >>/run/vfio-result
	done
	# Then an update that works: every address was given back.
	exec_update "$1" /usr/bin/vfio-edu-v2 last
	next_event "after the refusals: v2 restore"
	l_restore=$LINE
	next_event "after the refusals: v2 DMA"
	printf '"after_refusals":{"rc":%s,"update":%s,"restore":%s,"after":%s},' $rc \
		"$(jfile /run/last.json)" "$l_restore" "$LINE" >>/run/vfio-result
}

# The control run on each interface: no Baton, the mapping not kept.
vfio_control() {
	for b in type1 iommufd; do
		dmesg -c >/dev/null
		vfio-edu-v1 --backend $b --device "$1" --report /run/events --control-run
		rc=$?
		next_event "control $b"
		faults=$(dmesg | grep -c "DMAR:.*Request device \\[$1\\] fault addr 0x20[01]000")
		printf '"control_%s":{"device":"%s","rc":%s,"event":%s,"dmar_faults":%s},' \
			$b "$1" $rc "$LINE" "$faults" >>/run/vfio-result
	done
}

vfio_scenario() {
	SCENARIO=vfio
	say "start, kernel $VER, uptime $(uptime_s) s"
	# The VFIO nodes (/dev/vfio/*, /dev/iommu) come with devtmpfs.
	mount -t devtmpfs devtmpfs /dev || fail "mounting devtmpfs failed"
	# shellcheck disable=SC2046 # one word per address
	set -- $(edu_devices)
	[ $# -eq 6 ] || fail "expected 6 edu devices, found $#: $*"
	for a in "$@"; do
		echo vfio-pci >"/sys/bus/pci/devices/$a/driver_override"
		echo "$a" >/sys/bus/pci/drivers_probe
		vmhelper wait-driver "$a" vfio-pci 10000 || fail "$a not bound to vfio-pci"
		say "$a: vfio-pci, group $(basename "$(readlink "/sys/bus/pci/devices/$a/iommu_group")")," \
			"cdev $(ls "/sys/bus/pci/devices/$a/vfio-dev" 2>/dev/null)"
	done
	mkfifo /run/events || fail "mkfifo failed"
	exec 3<>/run/events
	: >/run/vfio-result
	vfio_demo_host type1
	vfio_demo_host iommufd
	vfio_demo_cmd type1
	vfio_demo_cmd iommufd
	vfio_update type1_exec type1 "$1" exec
	vfio_update type1_socket type1 "$2" socket
	# Without CAP_IPC_LOCK, or iommufd accounts nothing (docs/vfio.md).
	vfio_update iommufd_exec iommufd "$3" exec --no-ipc-lock
	vfio_update iommufd_socket iommufd "$4" socket --no-ipc-lock
	vfio_refused "$5"
	vfio_control "$6"
	vfio_update type1_intx type1 "$6" socket --intx
	# devsim's edu, two (a device has one client at a time), at addresses
	# no real device has.
	mkdir -p /run/devsim
	devsim --dir /run/devsim --device edu@0000:00:1e.0 --device edu@0000:00:1e.1 \
		--ready-fd 4 4>/run/events 2>/run/devsim.log &
	next_event "devsim: ready"
	vfio_update devsim_exec vfio-user 0000:00:1e.0 exec --devsim /run/devsim
	vfio_update devsim_socket vfio-user 0000:00:1e.1 socket --devsim /run/devsim
	echo 1 >/proc/sys/kernel/printk
	printf 'BATON-VM-RESULT {"ok":true,"scenario":"vfio",%s"uptime":%s}\n' \
		"$(cat /run/vfio-result)" "$(uptime_s)"
	finish
}
