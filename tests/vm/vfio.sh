# SPDX-License-Identifier: MIT
# shellcheck shell=sh disable=SC2034 # RUN, BOOT_*, CHECK_PREFIX: read by tests/vm/run
#
# tests/vm/vfio.sh: the VFIO scenario of `make check-vm`, sourced by
# tests/vm/run once the LUO kernel is there (LUO_DIR; it has type1 and
# iommufd built in), with run's boot, check, add_baton, make_initrd, die
# and counters.
#
#  1. lib/backends/vfio/uapi.h against that kernel's own iommufd.h and
#     vfio.h (tests/vm/vfio_abi_check.c).
#  2. A root with busybox, the guest's init and tests/vm/guest/vfio.sh,
#     baton and vfio-edu-v0/v1/v2 (and v2 without the VFIO backend) from
#     BUILD with their libraries.
#  3. One boot (baton_vm=vfio) of a q35 machine with a split irqchip, an
#     intel-iommu with interrupt remapping and six edu devices behind PCIe
#     root ports: the guest binds them to vfio-pci and runs the updates,
#     the refused one and the control runs, then the same updates of
#     devsim's edu, for the blackouts to compare (see the guest script).
#  4. Checks every expectation against its BATON-VM-RESULT line.

RUN=vfio
vfio_fail() {
	echo "FAIL vfio: $*"
	failed=$((failed + 1))
	failed_runs="$failed_runs vfio"
}

mkdir -p "$SCRATCH/vfio-uapi/linux"
KSRC=$(cat "$LUO_DIR/source")
cp "$KSRC/include/uapi/linux/iommufd.h" "$KSRC/include/uapi/linux/vfio.h" \
	"$SCRATCH/vfio-uapi/linux/"
# -D__user=: what the kernel's headers_install strips.
if ${CC:-gcc} -std=c11 -Wall -Wextra -Werror -D__user= -fsyntax-only \
	-I"$SCRATCH/vfio-uapi" -I"$ROOT/lib" "$ROOT/tests/vm/vfio_abi_check.c"; then
	echo "PASS vfio: lib/backends/vfio/uapi.h matches the kernel's iommufd.h and vfio.h"
	pass=$((pass + 1))
else
	vfio_fail "lib/backends/vfio/uapi.h differs from the kernel's iommufd.h or vfio.h"
fi

VR=$SCRATCH/vfio-root
mkdir -p "$VR/bin" "$VR/sbin" "$VR/usr/bin" "$VR/usr/sbin" "$VR/proc" "$VR/sys" \
	"$VR/run" "$VR/tmp" "$VR/dev" "$VR/etc"
cp /bin/busybox "$VR/bin/busybox"
cp "$ROOT/tests/vm/guest/init" "$VR/init"
chmod 755 "$VR/init"
cp "$ROOT/tests/vm/guest/vfio.sh" "$VR/etc/baton-vm-vfio.sh"
cp "$SCRATCH/vmhelper" "$VR/usr/bin/vmhelper"
add_baton "$VR"
# vfio-edu links what baton links (libbaton and its dependencies), devsim
# less: the libraries add_baton copied serve them too, which is checked.
for p in tests/vm/vfio-edu-v0 tests/vm/vfio-edu-v1 tests/vm/vfio-edu-v2 \
	tests/vm/vfio-edu-v2-novfio devsim/devsim \
	examples/demo-host/demo-host-v1 examples/demo-host/demo-host-v2; do
	[ -x "$BUILD/$p" ] || die "$BUILD/$p not built"
	cp "$BUILD/$p" "$VR/usr/bin/"
	ldd "$BUILD/$p" | while read -r so arrow _; do
		[ "$arrow" != "=>" ] || [ -e "$VR/lib/x86_64-linux-gnu/$so" ] ||
			die "$p needs $so, which baton does not"
	done
done
make_initrd "$VR" "$SCRATCH/vfio-initrd"

BOOT_KERNEL=$LUO_DIR/bzImage
BOOT_INITRD=$SCRATCH/vfio-initrd
BOOT_MACHINE="-M q35,kernel-irqchip=split -m 1G -device intel-iommu,intremap=on"
for i in 1 2 3 4 5 6; do
	BOOT_MACHINE="$BOOT_MACHINE -device pcie-root-port,id=vrp$i,chassis=$i,slot=$i"
	BOOT_MACHINE="$BOOT_MACHINE -device edu,bus=vrp$i"
done
boot vfio intel_iommu=on baton_vm=vfio
RESULT=$SCRATCH/vfio.json
echo "check-vm: vfio guest ran ${T_QEMU} s (one boot)"
# The blackouts, VFIO against devsim, one guest: what docs/vfio.md quotes
# (the update v1 -> v2, then v2 into itself, each in the run's mode).
for r in type1_exec type1_socket iommufd_exec iommufd_socket devsim_exec devsim_socket; do
	jq -r --arg r "$r" '.[$r] | [.update.blackout_ms] + [.repeats[]?.blackout_ms] |
		map(select(. != null)) | sort |
		"check-vm: vfio \($r): blackout median \(if length > 0 then .[length / 2 | floor] * 10 | round / 10 else "?" end) ms of \(length) updates, \(map(. * 10 | round / 10))"' \
		"$RESULT"
	# The device's own part, in the restore: its fds adopted (with the
	# checks of whose they are), then its mapping.
	jq -r --arg r "$r" '[.[$r].restore] + [.[$r].repeats[]?.restore] | map(select(. != null)) |
		def med(f): map(f) | sort | if length > 0 then .[length / 2 | floor] else "?" end;
		"check-vm: vfio \($r): adopt median \(med(.adopt_us)) us, dma adopt \(med(.dma_adopt_us)) us, of \(length)"' \
		"$RESULT"
	# Where it goes: each phase's time from the previous one, FREEZE to
	# FINISH (BATON_TRACE, as bench/bench_devices.sh reads it), mean of
	# the updates.
	grep -a "^vfio-trace $r " "$SCRATCH/vfio.log" | cut -d' ' -f3- | sort -n |
		awk '$3 == "freeze" { p = $1; on = 1; n++; next }
		     on { ms[$3] += ($1 - p) / 1e6; p = $1; if (!($3 in seen)) { seen[$3] = 1; order[++k] = $3 } }
		     on && $3 == "finish" { on = 0 }
		     END { if (!n) exit; line = sprintf("check-vm: vfio %s: phases, mean of %d (ms):", r, n);
			   for (i = 1; i <= k; i++) line = line sprintf(" %s %.1f", order[i], ms[order[i]] / n);
			   print line }' r="$r"
done

# shellcheck disable=SC2016 # jq variables, not shell ones
{
check "vfio: the guest ran every case and reported" '.ok == true and .scenario == "vfio"'
for r in type1_exec type1_socket iommufd_exec iommufd_socket devsim_exec devsim_socket \
	type1_intx; do
	CHECK_PREFIX="vfio $r: "
	check "v1 mapped its region, set the registers, DMA'd a known buffer, got the interrupt" \
		".$r.probe | .rc == 0 and .dma_copied == true and .irq == true"
	check "the update to v2 succeeded" ".$r.update_rc == 0"
	check "v2 (edu-vfio-next, by the converter) adopted the device: registers and the earlier buffer as v1 left them, nothing mapped again" \
		".$r.restore | .rc == 0 and .regs_ok == true and .earlier_buffer_ok == true and .driver == \"edu-vfio-next\""
	check "v2 DMA'd a new buffer to the same IOVA and got the interrupt on the preserved eventfd" \
		".$r.after | .event == \"after-update\" and .rc == 0 and .dma_copied == true and .irq == true and .converted == true and .version == 2"
	case $r in
	type1*) charge=vm_lck_kib what="VmLck (locked_vm), moved by VFIO_DMA_MAP_FLAG_VADDR" ;;
	iommufd*) charge=vm_pin_kib what="VmPin (pinned_vm), moved by IOMMU_IOAS_CHANGE_PROCESS" ;;
	*) charge="" ;;
	esac
	[ -z "$charge" ] ||
		check "the 8 KiB pinned for the device are charged to v1, then to v2, each update: $what" \
			".$r as \$c | \$c.probe.$charge >= 8 and \$c.after.$charge == \$c.probe.$charge and
			all(\$c.repeats[]; .after.$charge == \$c.probe.$charge)"
	check "v2 into itself, each time: restored from the device as left, a new DMA and its interrupt" \
		"(.$r.repeats | length) >= 1 and all(.$r.repeats[]; .rc == 0 and
		.restore.regs_ok == true and .restore.earlier_buffer_ok == true and
		.after.dma_copied == true and .after.irq == true)"
done
CHECK_PREFIX="vfio: "
check "type1_intx ran on INTx, the others on MSI" \
	'.type1_intx.probe.intx == true and .type1_exec.probe.intx == false'
for b in type1 iommufd; do
	check "demo-host --vfio $b: its edu driver, unchanged from devsim, drives the six edu devices, updated live to v2" "
		.demo_host_$b | .update_rc == 0 and .update.outcome == \"updated\" and
		(.update.decisions | length) == 6 and
		all(.update.decisions[]; .driver == \"edu\" and .mandatory == true)"
	check "demo-host --vfio $b: v2 exits 0 on SIGTERM" ".demo_host_$b.exit == 0"
	check "baton demo --backend $b: verdict ok, updated live to v2 and back, every edu bound by the edu driver, demo-host exit 0" "
		.demo_cmd_$b | .rc == 0 and .out.verdict == \"ok\" and .out.backend == \"$b\" and
		[.out.updates[].outcome] == [\"updated\", \"updated\"] and
		all(.out.updates[].decisions[]; .driver == \"edu\") and
		(.out.updates[0].decisions | length) == 6 and .out.exits[\"demo-host\"] == \"exit 0\""
done
check "an update the preflight refuses (v0 reads no schema of v1's) fails, naming the device" \
	'.refused.device as $d | .refused.probe.rc == 0 and .refused.update_rc == 1 and
	.refused.update.outcome == "refused" and (.refused.update.error | contains($d))'
check "after the refusal v1 still drives the device: DMA and interrupt" \
	'.refused.after | .version == 1 and .event == "usr1" and .rc == 0 and .dma_copied == true and .irq == true'
check "a v2 whose restore fails after adopting the device is rolled back: the update fails" \
	'.refused.failed_rc != 0 and .refused.failed_restore.version == 2 and
	.refused.failed_restore.regs_ok == true and .refused.failed_fails.event == "restore-fails"'
check "... and v1 comes back (same pid), adopts the device and its mapping again, DMA and interrupt" \
	'.refused.back | .version == 1 and .event == "restore" and .rc == 0 and .regs_ok == true and
	.earlier_buffer_ok == true'
check "... and drives it after, on its own and on SIGUSR1" \
	'[.refused.back_dma, .refused.back_after] | all(.[]; .version == 1 and .rc == 0 and
	.dma_copied == true and .irq == true)'
v1_dmas='.version == 1 and .rc == 0 and .dma_copied == true and .irq == true'
check "a target built without the VFIO backend: its dry run lists its backends, the update is refused before FREEZE, naming the fd" \
	'.novfio | .rc != 0 and .update.outcome == "refused" and
	(.update.error | test("vfio-edu-v2-novfio has no vfio-type1 device backend .it has \\[\"vfio-user\"\\]., and the image holds fd 0x[0-9a-f]+ .vfio-(group|container)."))'
check "... and v1 still drives the device: DMA and interrupt" ".novfio.after | $v1_dmas"
for how in device kinds; do
	case $how in
	device) what="as another device's" errno=-19 ;;
	kinds) what="with the group where the container goes" errno=-25 ;;
	esac
	check "v2 adopting the fds $what: baton_vfio_adopt() refuses ($errno), the update is rolled back" \
		".misadopt_$how | .rc != 0 and .update.outcome == \"rolled-back\" and
		.restore.version == 2 and .restore.rc == $errno and .restore.adopted == false"
	check "... and v1 comes back, adopts its device, DMA and interrupt" \
		".misadopt_$how | .back.version == 1 and .back.rc == 0 and .back.regs_ok == true and
		(.back_dma | $v1_dmas)"
done
check "the kernel refusing the freeze, found by PREPARE's check: refused before FREEZE" \
	'.invalidate_prepare | .invalidated.rc == 0 and .rc != 0 and .update.outcome == "refused" and
	(.update.error | test("preserve: Invalid argument"))'
check "the kernel refusing the freeze at FREEZE: aborted, nothing handed over" \
	'.invalidate_freeze | .invalidated.rc == 0 and .rc != 0 and .update.outcome == "aborted" and
	(.update.error | test("freeze: Invalid argument"))'
check "... after each, v1 still drives the device: DMA and interrupt" \
	"[.invalidate_prepare.after, .invalidate_freeze.after] | all(.[]; $v1_dmas)"
check "... and then an update works: every address was given back" \
	'.after_refusals | .rc == 0 and .update.outcome == "updated" and .restore.rc == 0 and
	.restore.regs_ok == true and .after.dma_copied == true and .after.irq == true'
for b in type1 iommufd; do
	check "control run, $b: the DMA worked while mapped" \
		".control_$b.event | .dma_copied_before == true and .irq_before == true"
	check "control run, $b: closed and opened again without the mapping, the DMA does not reach memory" \
		".control_$b.event | .dma_copied_after_reopen == false and .page0_still_first == true"
	check "control run, $b: the kernel logged DMAR faults at the IOVA" \
		".control_$b.dmar_faults > 0"
done
CHECK_PREFIX=""
}
