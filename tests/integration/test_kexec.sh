#!/bin/sh
# `baton kexec` where it can be run without rebooting the machine: its
# usage, a corrupt image refused before /dev/liveupdate is touched, and a
# kernel without the Live Update Orchestrator (this machine's) reported in
# words, nothing written.  The real kexec runs in tests/vm (luo-kernel).
# TAP output.
#
# usage: test_kexec.sh BATON DATA_DIR   (DTC in env)
set -u
baton=$1
data=$2
dtc=${DTC:-dtc}

. "$(dirname "$0")/tap.sh"

"$dtc" -q -I dts -O dtb -o "$tmp/good.dtb" "$data/good.dts" &&
	"$baton" image pack "$tmp/good.dtb" -o "$tmp/good.img" >/dev/null ||
	echo "# packing good.dts failed"
# A kernel file: only read by --dry-run's check, never loaded here.
printf 'not a kernel' >"$tmp/vmlinuz"

# ---- usage ----
expect "no arguments: usage error" 2 kexec
expect "--kernel without --image: usage error" 2 kexec --kernel "$tmp/vmlinuz"
expect "--restore with --socket: usage error" 2 kexec --restore --socket "$tmp/x.sock"
expect "--socket with --image: usage error" 2 kexec --kernel "$tmp/vmlinuz" \
	--image "$tmp/good.img" --socket "$tmp/x.sock"
expect "--timeout 0: usage error" 2 kexec --restore --timeout 0
expect "--restore with --image: usage error" 2 kexec --restore -o "$tmp/x" \
	--image "$tmp/good.img"
expect "an operand: usage error" 2 kexec --kernel "$tmp/vmlinuz" \
	--image "$tmp/good.img" extra

# ---- a corrupt image is refused first, by its own name ----
head -c 4096 /dev/urandom >"$tmp/corrupt.img"
expect "a corrupt image: exit 2" 2 kexec --kernel "$tmp/vmlinuz" \
	--image "$tmp/corrupt.img" --dry-run
holds "the error names the image, not /dev/liveupdate" \
	'grep -q "^baton: $tmp/corrupt.img: " "$tmp/err" && ! grep -q liveupdate "$tmp/err"'
expect "a missing image: exit 2" 2 kexec --kernel "$tmp/vmlinuz" \
	--image "$tmp/none.img"

# ---- --restore opens its output before it touches a session ----
expect "--restore to a directory that does not exist: exit 2" 2 kexec --restore \
	-o "$tmp/no/such/dir/x.img"
holds "the error names the output, not /dev/liveupdate" \
	'grep -q "^baton: $tmp/no/such/dir/x.img: No such file or directory$" "$tmp/err"'

# ---- no LUO in this kernel ----
if [ -e /dev/liveupdate ]; then
	ok "# SKIP this kernel has /dev/liveupdate: the no-LUO answers are not seen"
else
	expect "--dry-run without LUO: exit 2" 2 kexec --kernel "$tmp/vmlinuz" \
		--image "$tmp/good.img" --dry-run --json
	holds "it says why, in one line, naming the device and the call" \
		'[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^baton: /dev/liveupdate: absent: this kernel has no Live Update Orchestrator, or it was not enabled at boot (liveupdate=on) (open)$" "$tmp/err"'
	holds "and prints nothing on stdout" '[ ! -s "$tmp/out" ]'
	expect "kexec without LUO: exit 2, nothing loaded" 2 kexec \
		--kernel "$tmp/vmlinuz" --image "$tmp/good.img"
	expect "--restore without LUO: exit 2" 2 kexec --restore -o "$tmp/restored.img"
	holds "--restore wrote nothing" '[ ! -e "$tmp/restored.img" ]'
	expect "--restore of programs without LUO: exit 2, nothing started" 2 kexec --restore
	holds "it says why in one line" \
		'[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "^baton: /dev/liveupdate: absent: .* (open); no program started$" "$tmp/err"'
fi

tap_done
