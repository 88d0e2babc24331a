# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# Sourced by /init with baton_vm=luo-programs (say, fail, finish,
# luo_device, jstr, jfile, uptime_s are its): programs carried across a
# real kexec by `baton kexec --socket`, on the LUO kernel.  Three boots,
# the command line naming the next (baton_lp_stage=2, =3):
#
#  1. kvcache A (8 MiB of item memory, 4 MiB of items) and B (256 MiB,
#     64 MiB of items), stored by kvload; a kexec with a kvcache failing
#     PREPARE (C) must stop with A resumed, one with demo-host D (a
#     mandatory vfio-user device, devsim's) must be refused before
#     anything is frozen; the dry run's JSON; then the real kexec of A,
#     B and demo-host E, whose pktgen (its own devsim) is --optional:
#     its connection is dropped, reset after the kexec.  Before it,
#     E's devsim is stopped (SIGSTOP: nothing writes the ring any more)
#     and the ring region's memfd summed (md5) through /proc.  One line
#     BATON-LP-STAGE1 {json}.
#  2. baton kexec --restore starts A, B and E again from their sessions,
#     with BATON_TRACE: each program's phase times; every item is read
#     back over a new connection; MemFree and Shmem around it.  E's ring
#     region, before any devsim runs, is summed again; then a fresh
#     devsim starts, E probes its pktgen again on the same ring region
#     and packets flow; E stops and reports.  Then A and B are updated
#     in socket mode, interleaved, LP_UPDATES times each: more restores
#     of an 8 MiB and a 256 MiB region in this boot, traced.  One line
#     BATON-LP-STAGE2 {json}.  Then a program's session with a corrupt
#     image (luo_carry programs) and a kexec.
#  3. baton kexec --restore refuses it and starts that kvcache cold.
#     BATON-VM-RESULT {json}; tests/vm/luo-programs.sh judges the three.
#
# Every wait is bounded: lp_wait polls every 20 ms for at most 10 s.

# fail, with the programs' last words on the console first.
lp_fail() {
	tail -n 5 /run/*.log /run/*.err /run/baton/*.log /run/trace 2>/dev/null
	fail "$@"
}

lp_wait() { # WHAT SHELL-TEST
	i=0
	until eval "$2"; do
		i=$((i + 1))
		[ $i -gt 500 ] && lp_fail "gave up after 10 s waiting for $1"
		sleep 0.02
	done
}

lp_meminfo() { sed -n "s/^$1: *\([0-9]*\) kB$/\1/p" /proc/meminfo; }

# The agent's stdout is its JSON alone: checked by a parser (jsonget, static
# json-c), written on one line to $2.
lp_json() {
	jsonget "$1" >"$2" 2>/run/jsonget.err ||
		fail "the agent's --json is not one JSON value: $(cat /run/jsonget.err)"
}

# Each program's log, from the agent's JSON: {"log","exists","listening"}.
lp_logs() {
	logs="["
	i=0
	sep=
	while log=$(jsonget "$1" programs $i log 2>/dev/null); do
		exists=false
		listening=false
		[ -f "$log" ] && exists=true
		grep -q "listening on" "$log" 2>/dev/null && listening=true
		logs="$logs$sep{\"log\":$(jstr "$log"),\"exists\":$exists,\"listening\":$listening}"
		sep=,
		i=$((i + 1))
	done
	logs="$logs]"
}

# Another process holds /dev/liveupdate, as an init that uses LUO would:
# baton kexec must name it and freeze nothing; A runs on.
lp_busy() {
	sleep 600 9<>/dev/liveupdate &
	holder=$!
	lp_wait "the holder of /dev/liveupdate" '[ -e /proc/$holder/fd/9 ]'
	baton kexec --kernel /boot/vmlinuz --socket /run/kv-a.sock >/run/h.out 2>/run/h.err
	rc=$?
	cat /run/h.err
	kill "$holder"
	wait "$holder"
	baton status --socket /run/kv-a.sock --json >/run/h-status.json
	busy=$(printf '{"rc":%s,"error":%s,"holder":%s,"lines":%s,"status":%s}' "$rc" \
		"$(jstr "$(head -n 1 /run/h.err)")" "$holder" "$(wc -l </run/h.err)" \
		"$(jfile /run/h-status.json)")
}

# --image and --socket, and a kernel that does not load: every session is
# made, then closed (the real kexec below makes them again under the same
# names), and A, handed over and frozen, resumes.
lp_no_kernel() {
	baton kexec --kernel /bin/busybox --image /opt/good.img \
		--socket /run/kv-a.sock >/run/n.out 2>/run/n.err
	rc=$?
	cat /run/n.err
	resumed=false
	grep -q '^baton: /run/kv-a.sock: resumed$' /run/n.err && resumed=true
	baton status --socket /run/kv-a.sock --json >/run/n-status.json
	no_kernel=$(printf '{"rc":%s,"error":%s,"resumed":%s,"status":%s}' "$rc" \
		"$(jstr "$(head -n 1 /run/n.err)")" "$resumed" "$(jfile /run/n-status.json)")
}

# Held by another process after the kexec: --restore says who, starts
# nothing and retrieves nothing, so that it can be run again.
lp_busy_restore() {
	sleep 600 9<>/dev/liveupdate &
	holder=$!
	lp_wait "the holder of /dev/liveupdate" '[ -e /proc/$holder/fd/9 ]'
	baton kexec --restore --json >/run/hr.out 2>/run/hr.err
	rc=$?
	cat /run/hr.err
	kill "$holder"
	wait "$holder"
	busy_restore=$(printf '{"rc":%s,"error":%s,"holder":%s,"stdout_bytes":%s}' "$rc" \
		"$(jstr "$(head -n 1 /run/hr.err)")" "$holder" "$(wc -c </run/hr.out)")
}

# The kernel path's image, carried by the same kexec as the programs.
lp_kernel_image() {
	baton kexec --restore -o /run/kernel.img --json >/run/kimg.out 2>/run/kimg.err
	rc=$?
	cat /run/kimg.err
	same=false
	cmp -s /run/kernel.img /opt/good.img && same=true
	kimg=$(printf '{"rc":%s,"same":%s,"restore":%s}' "$rc" "$same" "$(jfile /run/kimg.out)")
}

# /proc/PID/fd/N of PID's file of SIZE bytes: its region's memfd (a name
# does not cross a kexec, so not by name).
lp_memfd() { # PID SIZE
	for f in /proc/$1/fd/*; do
		[ "$(stat -L -c %s "$f" 2>/dev/null)" = "$2" ] && echo "$f" && return 0
	done
	return 1
}

# A number from a JSON file: the first "KEY": N in it.
lp_jnum() { grep -o "\"$2\": *[0-9]*" "$1" | head -n 1 | sed 's/.*: *//'; }

# E's ring region (pktgen-dma) as /proc/PID/fd/N in $ring, from its status
# (/run/status-e.json).
lp_ring() {
	baton status --socket /run/demo-e.sock --json >/run/status-e.json ||
		lp_fail "baton status of demo-host E failed"
	tr -d ' \n' </run/status-e.json |
		sed -n 's/.*"label":"pktgen-dma","size":\([0-9]*\).*/\1/p' >/run/ring.size
	ring=$(lp_memfd "$(lp_jnum /run/status-e.json pid)" "$(cat /run/ring.size)") ||
		lp_fail "no file of $(cat /run/ring.size) bytes in demo-host E: $(ls -l /proc/"$(lp_jnum /run/status-e.json pid)"/fd | tr '\n' ' ')"
}

# The sequence number of descriptor N of the first ring (a 4 KiB header,
# then 64-byte descriptors starting with a u64 seq).
lp_seq() { od -A n -t u8 -j $((4096 + $2 * 64)) -N 8 "$1" | tr -d ' '; }

lp_archive() {
	(cd / && find . -xdev | sed '/^\.$/d' | cpio -o -H newc 2>/dev/null) \
		>"$1" || fail "archiving the rootfs failed"
}

lp_stage1() {
	kvcache --port 11211 --memory 8 --control /run/kv-a.sock >/run/kv-a.log 2>&1 &
	kvcache --port 11212 --memory 256 --control /run/kv-b.sock >/run/kv-b.log 2>&1 &
	BATON_FAULT=prepare:eio kvcache --port 11213 --memory 4 \
		--control /run/kv-c.sock >/run/kv-c.log 2>&1 &
	mkdir -p /run/devsim /run/devsim-e
	devsim --dir /run/devsim --device pktgen@0000:00:10.0,rate=1000 \
		>/run/devsim.log 2>&1 &
	devsim --dir /run/devsim-e --device pktgen@0000:00:10.0,rate=1000 \
		>/run/devsim-e.log 2>&1 &
	devsim_e=$!
	lp_wait "the kvcaches" '[ -S /run/kv-a.sock ] && [ -S /run/kv-b.sock ] && [ -S /run/kv-c.sock ]'
	lp_wait "devsim" '[ -n "$(ls /run/devsim)" ] && [ -n "$(ls /run/devsim-e)" ]'
	demo-host --devsim /run/devsim --control /run/demo.sock >/run/demo.log 2>&1 &
	demo-host --devsim /run/devsim-e --control /run/demo-e.sock --optional \
		--stats /run/demo-e.stats >/run/demo-e.log 2>&1 &
	lp_wait "demo-host" '[ -S /run/demo.sock ] && [ -S /run/demo-e.sock ]'
	set_a=$(kvload set 11211 4) || fail "kvload set A: $set_a"
	set_b=$(kvload set 11212 64) || fail "kvload set B: $set_b"
	say "items stored, uptime $(uptime_s) s"

	baton kexec --kernel /boot/vmlinuz --socket /run/kv-a.sock \
		--socket /run/kv-c.sock >/run/p.out 2>/run/p.err
	rc=$?
	cat /run/p.err
	resumed=false
	grep -q '^baton: /run/kv-a.sock: resumed$' /run/p.err && resumed=true
	prepare=$(printf '{"rc":%s,"error":%s,"resumed":%s}' "$rc" \
		"$(jstr "$(head -n 1 /run/p.err)")" "$resumed")
	baton kexec --kernel /boot/vmlinuz --socket /run/kv-a.sock \
		--socket /run/demo.sock >/run/v.out 2>/run/v.err
	rc=$?
	cat /run/v.err
	vfio=$(printf '{"rc":%s,"error":%s}' "$rc" "$(jstr "$(head -n 1 /run/v.err)")")
	lp_busy
	lp_no_kernel

	lp_archive /run/initrd
	baton kexec --kernel /boot/vmlinuz --initrd /run/initrd --socket /run/kv-a.sock \
		--socket /run/kv-b.sock --socket /run/demo-e.sock --dry-run --json >/run/dry.json ||
		fail "baton kexec --dry-run failed"
	# E's devsim stops: from now on nothing writes the ring, and its sum
	# is what must come back.
	kill -STOP "$devsim_e"
	lp_ring
	ring_md5=$(md5sum <"$ring" | cut -d ' ' -f 1)
	printf 'BATON-LP-STAGE1 {"busy":%s,"no_kernel":%s,"set_a":%s,"set_b":%s,"prepare":%s,"vfio":%s,"dry":%s,"ring":{"size":%s,"md5":"%s","seq0":%s,"seq9":%s},"status_e":%s}\n' \
		"$busy" "$no_kernel" "$set_a" "$set_b" "$prepare" "$vfio" "$(jfile /run/dry.json)" \
		"$(cat /run/ring.size)" "$ring_md5" "$(lp_seq "$ring" 0)" "$(lp_seq "$ring" 9)" \
		"$(jfile /run/status-e.json)"
	say "stage-2 initrd: $(wc -c </run/initrd) bytes; kexec at uptime $(uptime_s) s"
	baton kexec --kernel /boot/vmlinuz --initrd /run/initrd \
		--append "$(cat /proc/cmdline) baton_lp_stage=2" --image /opt/good.img \
		--socket /run/kv-a.sock --socket /run/kv-b.sock --socket /run/demo-e.sock
	fail "baton kexec returned (exit $?): no kexec"
}

# The trace's lines "NS PID PHASE MINFLT" as a JSON array of [PID, "PHASE", NS].
lp_trace() {
	awk 'BEGIN { printf "[" } { printf "%s[%s,\"%s\",%s]", (NR > 1 ? "," : ""), $2, $3, $1 }
	     END { printf "]" }' "$1"
}

lp_stage2() {
	lp_busy_restore
	lp_kernel_image
	free0=$(lp_meminfo MemFree)
	shm0=$(lp_meminfo Shmem)
	# E's devsim is not there yet: its directory is, empty.
	mkdir -p /run/devsim-e
	BATON_TRACE=/run/trace baton kexec --restore --json >/run/restore.out 2>/run/restore.err
	rc=$?
	cat /run/restore.err
	[ $rc -eq 0 ] || fail "baton kexec --restore exit $rc: $(head -n 1 /run/restore.err)"
	say "restored, uptime $(uptime_s) s"
	lp_json /run/restore.out /run/restore.json
	lp_logs /run/restore.json
	check_b=$(kvload check 11212 64)
	check_a=$(kvload check 11211 4)
	free1=$(lp_meminfo MemFree)
	shm1=$(lp_meminfo Shmem)
	baton status --socket /run/kv-a.sock --json >/run/status-a.json
	baton status --socket /run/kv-b.sock --json >/run/status-b.json

	# E: its ring region came back, before any device writes to it.
	lp_ring
	cp /run/status-e.json /run/status-e1.json
	ring_md5=$(md5sum <"$ring" | cut -d ' ' -f 1)
	seq0=$(lp_seq "$ring" 0)
	# E's output goes to its log (the agent's JSON names it).
	dropped=$(grep -m 1 '^demo-host: 0000:00:10.0: ' "$(jsonget /run/restore.json programs 2 log)")
	# A fresh devsim: E sees its socket appear, connects, probes again.
	devsim --dir /run/devsim-e --device pktgen@0000:00:10.0,rate=1000 \
		>/run/devsim-e.log 2>&1 &
	lp_wait "demo-host E to probe the new pktgen" \
		'baton status --socket /run/demo-e.sock --json 2>/dev/null | grep -q "\"driver\": *\"pktgen\""'
	lp_ring
	cp /run/status-e.json /run/status-e2.json
	lp_wait "ten packets in the ring after the reconnect" '[ "$(lp_seq "$ring" 9)" = 10 ]'
	kill -TERM "$(lp_jnum /run/status-e2.json pid)"
	lp_wait "demo-host E's report" '[ -s /run/demo-e.stats ]'

	# More restores of the 8 MiB and the 256 MiB region in this boot.
	i=0
	while [ $i -lt "${LP_UPDATES:-4}" ]; do
		for kv in a b; do
			baton update --socket /run/kv-$kv.sock --to /usr/bin/kvcache --mode socket \
				>/run/update.out 2>&1 || fail "socket update of $kv: $(cat /run/update.out)"
		done
		i=$((i + 1))
	done
	# Each new process notes its phases once it has finished: all of them.
	lp_wait "every restore's trace" \
		'[ "$(awk '\''$3 == "finish"'\'' /run/trace | wc -l)" -ge $((3 + 2 * ${LP_UPDATES:-4})) ]'
	printf 'BATON-LP-STAGE2 {"busy_restore":%s,"kernel_image":%s,"logs":%s,"restore":%s,"check_a":%s,"check_b":%s,"status_a":%s,"status_b":%s,"memfree_kib_delta":%s,"shmem_kib_delta":%s,' \
		"$busy_restore" "$kimg" "$logs" "$(jfile /run/restore.json)" "${check_a:-null}" "${check_b:-null}" \
		"$(jfile /run/status-a.json)" "$(jfile /run/status-b.json)" \
		"$((free1 - free0))" "$((shm1 - shm0))"
	printf '"ring":{"md5":"%s","seq0":%s},"dropped":%s,"status_e1":%s,"status_e2":%s,"stats_e":%s,' \
		"$ring_md5" "${seq0:-null}" "$(jstr "$dropped")" "$(jfile /run/status-e1.json)" \
		"$(jfile /run/status-e2.json)" "$(jfile /run/demo-e.stats)"
	printf '"trace":%s}\n' "$(lp_trace /run/trace)"

	# A program's session whose image is corrupt, for the third boot.
	lp_archive /run/initrd
	printf '{"sessions":["baton:kvcache:corrupt"]}' >/run/manifest.json
	printf '{"program":"kvcache (corrupt image)","exec":"/usr/bin/kvcache","argv":["kvcache","--port","11213","--memory","4","--control","/run/kv-c.sock"],"keeps":[]}' \
		>/run/command.json
	luo_carry programs /boot/vmlinuz /run/initrd " baton_lp_stage=3" \
		/run/manifest.json baton:kvcache:corrupt /opt/corrupt.img /run/command.json
	fail "luo_carry programs returned (exit $?): no kexec"
}

lp_stage3() {
	baton kexec --restore --json >/run/restore.out 2>/run/restore.err
	rc=$?
	cat /run/restore.err
	lp_json /run/restore.out /run/restore.json
	lp_wait "the cold kvcache" '[ -S /run/kv-c.sock ]'
	baton status --socket /run/kv-c.sock --json >/run/status-c.json
	check=$(kvload check 11213 1)
	echo 1 >/proc/sys/kernel/printk
	printf 'BATON-VM-RESULT {"ok":true,"scenario":"luo-programs","stage":3,"stage3":{"rc":%s,"error":%s,"restore":%s,"status":%s,"check":%s}}\n' \
		"$rc" "$(jstr "$(head -n 1 /run/restore.err)")" "$(jfile /run/restore.json)" \
		"$(jfile /run/status-c.json)" "${check:-null}"
	finish
}

lp_scenario() {
	SCENARIO=luo-programs
	STAGE=1
	case " $(cat /proc/cmdline) " in
	*" baton_lp_stage=3 "*) STAGE=3 ;;
	*" baton_lp_stage=2 "*) STAGE=2 ;;
	esac
	say "start, kernel $VER, uptime $(uptime_s) s"
	luo_device
	ifconfig lo 127.0.0.1 up || fail "no loopback"
	case $STAGE in
	1) lp_stage1 ;;
	2) lp_stage2 ;;
	3) lp_stage3 ;;
	esac
}
lp_scenario
