# SPDX-License-Identifier: MIT
# shellcheck shell=sh
# shellcheck disable=SC2034 # variables tests/vm/run reads: it sources this file
#
# tests/vm/schema-bind.sh: sourced by tests/vm/run, after the LUO
# scenarios.  The kernel path with no userspace bind step, on the LUO
# kernel built with Baton's patch series (kernel/patches): the PCI core
# carries each preserved device's schema across the kexec in KHO and binds
# it only to a driver that reads that schema.
#
#  1. scripts/kernel-luo --patches kernel/patches: the LUO kernel's build
#     copied and rebuilt with the series (cached by the series' hash).
#  2. The test modules built against it: each schema declared both ways,
#     so modpost's liveupdate: alias and Baton's are both in edu_next.ko.
#  3. schema-bind (tests/vm/guest/schema-bind): edu0 recorded in S1, edu1
#     in S0, a real kexec, then edu_plain and edu_next loaded with nothing
#     in between; edu_next must take edu0 over by itself, edu_plain
#     nothing, edu1 stay unbound and unreset until released.
#  4. schema-corrupt and schema-garbage: the same with the records
#     truncated, or their header overwritten, before the kexec (lu_corrupt):
#     the kernel refuses them saying why, and no driver binds either device
#     until it is released.
#
# BATON_VM_PATCHES=DIR runs them on another series (a deliberate bug in
# the kernel's check must fail them).
#
# Uses tests/vm/run's build_modules, edu_root, make_initrd, boot, check,
# and its EDU_DEVICES, S0, S1, S2, SCRATCH, ROOT.

RUN=schema-bind
# BATON_VM_PATCHES=DIR: another series, e.g. one with a deliberate bug.
SB_PATCHES=${BATON_VM_PATCHES:-$ROOT/kernel/patches}
sb_fail() {
	echo "FAIL schema-bind: $*"
	failed=$((failed + 1))
	failed_runs="$failed_runs schema-bind"
}
T=$(date +%s)
if ! SB_DIR=$("$ROOT/scripts/kernel-luo" --patches "$SB_PATCHES"); then
	sb_fail "the patched kernel could not be built (scripts/kernel-luo --patches)"
	SB_DIR=""
fi
if [ -n "$SB_DIR" ]; then
	SB_KVER=$(cat "$SB_DIR/release")
	echo "check-vm: patched kernel $SB_KVER ($(wc -l <"$SB_DIR/patches") patches)," \
		"ready in $(($(date +%s) - T)) s"
	build_modules "$SCRATCH/sb-modules" -C "$(cat "$SB_DIR/source")" \
		O="$SB_DIR/build"
	echo "PASS schema-bind: the test modules build against the patched $SB_KVER without warnings"
	pass=$((pass + 1))
	# Declared both ways: modpost's alias (from the GUID_INIT) and
	# Baton's (from the string) are the same line, twice.
	n=$(modinfo -F alias "$SCRATCH/sb-modules/edu_next.ko" | grep -c "^liveupdate:G$S1\$")
	m=$(modinfo -F alias "$SCRATCH/sb-modules/edu_next.ko" | grep -c "^liveupdate:G$S2\$")
	if [ "$n $m" = "2 2" ]; then
		echo "PASS schema-bind: edu_next's GUID_INIT schemas are S2 and S1 (modpost's aliases equal Baton's)"
		pass=$((pass + 1))
	else
		sb_fail "edu_next's liveupdate: aliases: S1 $n times, S2 $m times (2 each expected)"
	fi

	SBR=$SCRATCH/sb-root
	edu_root "$SBR" "$SB_KVER" "$SCRATCH/sb-modules" "$SB_DIR/bzImage" \
		"$SB_DIR/build"
	cp "$SCRATCH/sb-modules/lu_corrupt.ko" "$SBR/opt/stage1/"
	mkdir -p "$SBR/usr/share/baton-vm"
	cp "$ROOT/tests/vm/guest/schema-bind" "$SBR/usr/share/baton-vm/"
	make_initrd "$SBR" "$SCRATCH/sb-initrd"
	BOOT_KERNEL=$SB_DIR/bzImage
	BOOT_INITRD=$SCRATCH/sb-initrd
	BOOT_MACHINE="-M q35 -m 2G $EDU_DEVICES"

	# sb_common: the expectations both scenarios share, on $RESULT.
	# shellcheck disable=SC2016 # jq variables, not shell ones
	sb_common() {
		check "the guest reached stage 2 and reported" \
			'.ok == true and .stage == 2'
		check "stage 1: a live_update_schema that is no GUID is refused" \
			'.stage1.garbage_rc != 0'
		check "stage 1: baton kernel save recorded edu0 in S1, edu1 in S0 in the kernel" '
			.stage1 as $s | $s.save_rc == 0 and
			[$s.save.devices[] | select(.address == $s.edu0) | .kernel_record |
			 gsub("-"; "")] == [$S1] and
			[$s.save.devices[] | select(.address == $s.edu1) | .kernel_record |
			 gsub("-"; "")] == [$S0]'
		check "stage 1: edu0 recorded in S1, edu1 in S0 (the kernel reads them back)" '
			(.stage1.edu0_schema | gsub("-"; "")) == $S1 and
			(.stage1.edu1_schema | gsub("-"; "")) == $S0'
		check "edu_plain, loaded first, bound neither device" \
			'.plain_rc == 0 and .plain_after == "none none" and .plain_bound == 0'
		check "edu1 stayed unbound, not reset (registers and memory decoding as in stage 1)" '
			.stage1.edu1_state as $s | .devices[1] |
			.driver == "none" and .regs == [4294967295 - $s.liveness, $s.fact_out]
			and ((.command / 2 | floor) % 2) == 1'
		check "released with the null GUID, edu1 was probed cold (edu_plain, no record)" \
			'.release_rc == 0 and .released_driver == "edu_plain" and .released_schema == "none"'
	}
	# sb_run NAME: the guest run of scenario NAME, and what both check.
	sb_run() {
		RUN=$1
		boot "$1" intel_iommu=on liveupdate=on kho=on "baton_vm=$1"
		RESULT=$SCRATCH/$1.json
		echo "check-vm: $1 guest ran ${T_QEMU} s (two boots)"
		CHECK_PREFIX="$1: "
		sb_common
	}

	sb_run schema-bind
	# shellcheck disable=SC2016 # jq variables, not shell ones
	{
	check "the records came through the kexec: edu0 S1, edu1 S0, before any driver" '
		(.boot_schema[0] | gsub("-"; "")) == $S1 and
		(.boot_schema[1] | gsub("-"; "")) == $S0'
	check "edu_next bound edu0 by itself, with no userspace bind step" \
		'.next_rc == 0 and .devices[0].driver == "edu_next"'
	check "edu_next learnt at probe that edu0 was preserved in S1" \
		'(.edu_next_state.probe_schema | gsub("-"; "")) == $S1'
	check "edu0 not reset: its registers at probe hold the stage-1 values" '
		.stage1.edu0_state as $s | .edu_next_state |
		.probe_reg_liveness == 4294967295 - $s.liveness and
		.probe_reg_fact == $s.fact_out'
	check "edu0's record is now S2, the schema edu_next writes; edu1's still S0" '
		(.after_schema[0] | gsub("-"; "")) == $S2 and
		(.after_schema[1] | gsub("-"; "")) == $S0'
	}
	log=$SCRATCH/schema-bind.log
	for want in "KHO: found kexec handover data" \
		"PCI: live update: 2 preserved device(s) came through the kexec" \
		"live update: not binding edu_plain: it does not read schema $(echo "$S1" |
			sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/')" \
		"live update: edu_next took the device over from schema"; do
		if grep -qF "$want" "$log"; then
			echo "PASS schema-bind: the kernel says \"$want\""
			pass=$((pass + 1))
		else
			sb_fail "the kernel does not say \"$want\""
		fi
	done
	# What it costs at boot: the kernel times its reading of the records.
	ns=$(sed -n 's/.*came through the kexec (records read in \([0-9]*\) ns).*/\1/p' "$log" | head -n 1)
	echo "check-vm: schema-bind: the records of 2 devices read in ${ns:-?} ns at boot"

	# sb_refused NAME WHY: the records were damaged before the kexec; the
	# kernel must refuse them saying WHY, and bind neither device.
	# shellcheck disable=SC2016 # jq variables, not shell ones
	sb_refused() {
		sb_run "$1"
		check "lu_corrupt damaged the records before the kexec" '.stage1.corrupt_rc == 0'
		check "both devices came through marked lost" '.boot_schema == ["lost", "lost"]'
		check "edu_next did not bind edu0 either: quarantined" \
			'.next_rc == 0 and .devices[0].driver == "none" and .edu_next_state == null'
		check "edu0 not reset either" '
			.stage1.edu0_state as $s | .devices[0].regs ==
			[4294967295 - $s.liveness, $s.fact_out]'
		CHECK_PREFIX=""
		if grep -q "PCI: live update: the schema records from before the kexec are $2: refused" \
			"$SCRATCH/$1.log"; then
			echo "PASS $1: the kernel refuses the records as $2, saying so"
			pass=$((pass + 1))
		else
			echo "FAIL $1: the kernel refuses the records as $2, saying so"
			failed=$((failed + 1))
			failed_runs="$failed_runs $1"
		fi
	}
	sb_refused schema-corrupt truncated
	sb_refused schema-garbage "not a flattened device tree"
fi
