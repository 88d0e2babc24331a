#!/bin/sh
# The kernel path on a fake sysfs and a fake module tree: `baton kernel
# save`, `baton plan --modules`, `baton kernel bind`, checking what baton
# writes where.  The real thing runs in tests/vm.  TAP output.
#
# usage: test_kernel.sh BATON   (CC in env, for the fake .ko files)
set -u
baton=$1
cc=${CC:-cc}
S0=0d5f3c0b7f0e5a3c9a1e2b3c4d5e6f70
S1=3f7174ac46a957ecb761b29cdbf15055
S2=21df2dbfa1ae5f1a93b224395398b445

. "$(dirname "$0")/tap.sh"

file_is() {
	if [ "$(cat "$2")" = "$3" ]; then ok "$1"; else
		echo "# $2 holds '$(cat "$2")', expected '$3'"; not_ok "$1"
	fi
}

# ---- the next kernel's module tree: B writes S2 and converts S1; C is
# plain, the driver ordinary matching would pick.  A (edu_lu, which wrote
# S1) is the old version: added later to show native beats converter.
# Each module's aliases are its own module info, as modpost writes them;
# depmod (kmod's) makes the indexes libkmod reads.
ver=6.1.0-test
mods=$tmp/lib/modules/$ver
mkdir -p "$mods/extra"
EDU_ID='pci:v00001234d000011E8sv*sd*bc*sc*i*'
module() { # DIR NAME "key=value"...
	dir=$1 name=$2
	shift 2
	{
		for kv in "$@"; do
			printf 'static const char __attribute__((used, section(".modinfo"))) i%s[] = "%s";\n' \
				"$(echo "$kv" | cksum | cut -d' ' -f1)" "$kv"
		done
		echo "int $name;"
	} >"$tmp/$name.c"
	$cc -c -o "$dir/extra/$name.ko" "$tmp/$name.c"
}
depmod_tree() { # BASE: depmod of BASE/lib/modules/$ver, its warnings shown on failure
	depmod -b "$1" "$ver" 2>"$tmp/depmod.err" || { cat "$tmp/depmod.err"; exit 1; }
}
edu_next() { # DIR: the next version's driver, S2 native and S1 by converter
	module "$1" edu_next "liveupdate_writes=$S2" "liveupdate_priority=5" \
		"alias=$EDU_ID" "alias=liveupdate:G$S2" "alias=liveupdate:G$S1" "license=GPL"
}
edu_next "$mods"
module "$mods" edu_plain "alias=$EDU_ID" "license=GPL"
module "$mods" xhci_pci 'alias=pci:v*d*sv*sd*bc0Csc03i30*' "license=GPL"
depmod_tree "$tmp"

# ---- a sysfs: two edu devices bound to edu_lu (S1 and the older S0) ----
sys=$tmp/sys
device() { # ADDR SCHEMA STATE
	d=$sys/bus/pci/devices/$1
	mkdir -p "$d"
	echo 0x1234 >"$d/vendor"; echo 0x11e8 >"$d/device"
	echo 0x1af4 >"$d/subsystem_vendor"; echo 0x1100 >"$d/subsystem_device"
	echo 0x00ff00 >"$d/class"
	echo "$2" >"$d/liveupdate_schema"
	printf '%s' "$3" >"$d/liveupdate_state"
	: >"$d/driver_override"
}
device 0000:01:00.0 $S1 "edu-lu-state:counter=42"
device 0000:02:00.0 $S0 "old-format"
device 0000:00:1f.0 $S0 ""   # a device whose driver declares no schema
rm "$sys/bus/pci/devices/0000:00:1f.0/liveupdate_schema"
: >"$sys/bus/pci/drivers_probe"

# ---- save ----
expect "save every device whose driver declares a schema" 0 \
	kernel save --sysfs "$sys" -o "$tmp/handover.img" --mandatory 0000:01:00.0 --json
check "save json" '.devices | length == 2 and .[0].address == "0000:01:00.0" and .[0].mandatory == true and .[1].mandatory == false and .[0].state_size == 23'
check "a kernel without the patch series keeps no record" '.devices | all(.kernel_record == null)'
expect "the saved image inspects" 0 inspect --json "$tmp/handover.img"
check "records carry ids and schema, no driver name" '.devices[0].ids.device == "11e8" and .devices[0].schema == "3f7174ac-46a9-57ec-b761-b29cdbf15055" and .devices[1].schema == "0d5f3c0b-7f0e-5a3c-9a1e-2b3c4d5e6f70"'
if grep -q edu_lu "$tmp/handover.img"; then not_ok "no driver name in the image"; else ok "no driver name in the image"; fi
expect "save a named device only" 0 kernel save --sysfs "$sys" -o "$tmp/one.img" 0000:02:00.0 --json
check "one device saved" '.devices | length == 1 and .[0].address == "0000:02:00.0"'
expect "save a device without a liveupdate driver" 2 kernel save --sysfs "$sys" -o "$tmp/x.img" 0000:00:1f.0
grep -q "declares no written schema" "$tmp/err" && ok "the error says why" || not_ok "the error says why"
expect "save with no preservable device" 2 kernel save --sysfs "$tmp" -o "$tmp/x.img"
expect "mandatory device not saved" 2 kernel save --sysfs "$sys" -o "$tmp/x.img" 0000:02:00.0 --mandatory 0000:01:00.0

# ---- preflight against the module tree ----
expect "contracts from the module tree: preflight passes" 0 plan --json "$tmp/handover.img" --modules "$mods"
check "S1 goes to edu_next by converter, not to edu_plain" '.ok == true and .decisions[0].action == "convert" and .decisions[0].driver == "edu_next"'
check "S0 has no module: quarantine" '.decisions[1].action == "quarantine" and .decisions[1].driver == null'
# With the old A in the tree too, A reads S1 natively and wins over B's
# converter; with neither, the mandatory device has no driver.
module "$mods" edu_lu "liveupdate_writes=$S1" "alias=$EDU_ID" "alias=liveupdate:G$S1" "license=GPL"
depmod_tree "$tmp"
expect "tree with edu_lu too: native beats converter" 0 plan --json "$tmp/handover.img" --modules "$mods"
check "native bind to edu_lu" '.decisions[0].action == "bind" and .decisions[0].driver == "edu_lu"'
mv "$mods/extra/edu_lu.ko" "$mods/extra/edu_next.ko" "$tmp/"
depmod_tree "$tmp"
expect "tree with neither: refused" 1 plan "$tmp/handover.img" --modules "$mods"
mv "$tmp/edu_next.ko" "$mods/extra/"
module "$mods" edu_plain "alias=$EDU_ID" "alias=liveupdate:Gnothex" "license=GPL"
depmod_tree "$tmp"
expect "a malformed liveupdate alias is invalid input" 2 plan "$tmp/handover.img" --modules "$mods"
grep -q "alias liveupdate:Gnothex is not liveupdate:G and 32 hex digits (.*/extra/edu_plain.ko: .modinfo)" "$tmp/err" &&
	ok "the error names the module and its alias" || not_ok "the error names the module and its alias"
module "$mods" edu_plain "alias=$EDU_ID" "license=GPL"
depmod_tree "$tmp"
expect "a missing module tree is invalid input" 2 plan "$tmp/handover.img" --modules "$tmp/nowhere"
grep -q "No such file or directory (.*/nowhere/modules.alias.bin)" "$tmp/err" &&
	ok "the error names the index" || not_ok "the error names the index"

# ---- the tree as distributions ship it: Debian 13 and sid compress their
# modules with xz, Ubuntu with zstd.  The same tree, edu_next as .ko.xz and
# edu_plain as .ko.zst, depmod'ed: the same decisions.
dist=$tmp/dist/lib/modules/$ver
mkdir -p "$dist/extra"
cp "$mods/extra/"*.ko "$dist/extra/"
xz "$dist/extra/edu_next.ko"
zstd -q --rm "$dist/extra/edu_plain.ko"
depmod_tree "$tmp/dist"
grep -q '^extra/edu_next.ko.xz:' "$dist/modules.dep" && ok "depmod lists the .ko.xz" || not_ok "depmod lists the .ko.xz"
expect "a tree of .ko.xz and .ko.zst modules: preflight passes" 0 plan --json "$tmp/handover.img" --modules "$dist"
check "S1 goes to edu_next (.ko.xz) by converter" '.ok == true and .decisions[0].action == "convert" and .decisions[0].driver == "edu_next" and .decisions[1].action == "quarantine"'
module "$dist" edu_lu "liveupdate_writes=$S1" "alias=$EDU_ID" "alias=liveupdate:G$S1" "license=GPL"
zstd -q --rm "$dist/extra/edu_lu.ko"
depmod_tree "$tmp/dist"
expect "with edu_lu as .ko.zst: native beats converter" 0 plan --json "$tmp/handover.img" --modules "$dist"
check "native bind to edu_lu (.ko.zst)" '.decisions[0].action == "bind" and .decisions[0].driver == "edu_lu"'
rm "$dist/extra/edu_lu.ko.zst"
depmod_tree "$tmp/dist"

# libkmod is opened by the child that reads the tree (lib/kernel/kmod.c),
# not linked.  With one that cannot be opened - /dev/null bound over it,
# in a mount namespace of the test's own - the tree is not taken for a bad
# one: the library is named.
libkmod=$(PATH=$PATH:/sbin:/usr/sbin ldconfig -p | awk '$1 == "libkmod.so.2" { print $NF; exit }')
if [ -z "$libkmod" ] || ! unshare -rm true 2>/dev/null; then
	ok "# SKIP libkmod that cannot be opened: no user namespaces here"
else
	: >"$tmp/procs"
	unshare -rm sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$libkmod" \
		"$REAP" -l "$tmp/procs" -t 60 -- "$baton" plan "$tmp/handover.img" --modules "$dist" \
		>"$tmp/out" 2>"$tmp/err"
	got=$?
	if [ "$got" = 2 ] && ! grep -qv ' exit [0-9]*$' "$tmp/procs" &&
	   grep -q "^baton: $dist: reading it needs libkmod (libkmod.so.2), which cannot be opened" "$tmp/err"; then
		ok "libkmod that cannot be opened: said, by name, exit 2"
	else
		echo "# exit $got"; sed 's/^/#   /' "$tmp/err" "$tmp/procs"
		not_ok "libkmod that cannot be opened: said, by name, exit 2"
	fi
fi

# ---- a module tree is input: what a hostile or broken one gets.  Each
# case on a copy of the compressed tree, named by the file at fault.
bad=$tmp/bad/lib/modules/$ver
hostile() { # NAME STATUS ERE: baton plan on $bad exits STATUS saying ERE
	expect "$1" "$2" plan "$tmp/handover.img" --modules "$bad"
	grep -Eq "$3" "$tmp/err" && ok "$1: says why" || not_ok "$1: says why"
}
fresh() { rm -rf "$tmp/bad"; mkdir -p "$tmp/bad/lib/modules"; cp -a "$dist" "$bad"; }
fresh
head -c 100 "$dist/extra/edu_next.ko.xz" >"$bad/extra/edu_next.ko.xz"
hostile "a truncated .ko.xz" 2 "cannot read its .modinfo \(Invalid argument\): a truncated or corrupt compressed module.* \(.*/extra/edu_next.ko.xz\)"
fresh
echo "not a module" | zstd -q >"$bad/extra/edu_plain.ko.zst"
module "$bad" edu_plain "alias=$EDU_ID" "alias=liveupdate:G$S0" "license=GPL"
zstd -q -f --rm "$bad/extra/edu_plain.ko"
depmod_tree "$tmp/bad"
echo "not a module" | zstd -q -f -o "$bad/extra/edu_plain.ko.zst"
hostile "a .ko.zst holding no ELF module" 2 "Exec format error.*\(.*/extra/edu_plain.ko.zst\)"
fresh
rm "$bad/extra/edu_next.ko.xz" && ln -s edu_next.ko.xz "$bad/extra/edu_next.ko.xz"
hostile "a module file that is a symbolic link to itself" 2 "Too many levels of symbolic links.*\(.*/extra/edu_next.ko.xz\)"
fresh
module "$bad" edu_next "liveupdate_writes=$S2" "liveupdate_priority=high" "alias=$EDU_ID" \
	"alias=liveupdate:G$S2" "alias=liveupdate:G$S1"
xz -f "$bad/extra/edu_next.ko"
hostile "module info that does not parse" 2 "liveupdate_priority=high is not a number \(.*/extra/edu_next.ko.xz: .modinfo\)"
module "$bad" edu_next "liveupdate_writes=${S2}00" "alias=$EDU_ID" "alias=liveupdate:G$S2"
xz -f "$bad/extra/edu_next.ko"
hostile "a written schema that is not one" 2 "liveupdate_writes=${S2}00 is not 32 hex digits"
# An ELF header whose section-name table is past the section count: libkmod
# 30 asserts on it.  It does so in the child that reads the .modinfo, which
# dies of it (SIGABRT, no core); baton says which module and why.
fresh
edu_next "$bad"
printf '\310\000' | dd of="$bad/extra/edu_next.ko" bs=1 seek=62 conv=notrunc 2>/dev/null
xz -f "$bad/extra/edu_next.ko"
: >"$tmp/procs"
(ulimit -c 0; "$REAP" -l "$tmp/procs" -t 60 -- "$baton" plan "$tmp/handover.img" --modules "$bad" >"$tmp/out" 2>"$tmp/err")
holds "a module libkmod dies reading: baton exits 2" '[ $? -eq 2 ]'
accounted "baton waited for its child; nothing else ended badly" "$tmp/procs" '^[0-9]+ baton exit 2$'
grep -Eq "libkmod died reading its .modinfo \(Aborted\): not a well-formed module \(.*/extra/edu_next.ko.xz\)" "$tmp/err" &&
	ok "and says which module" || not_ok "and says which module"
fresh
mv "$bad/extra/edu_next.ko.xz" "$tmp/"
depmod_tree "$tmp/bad"
cp "$bad/modules.dep.bin" "$tmp/dep.without"
mv "$tmp/edu_next.ko.xz" "$bad/extra/"
depmod_tree "$tmp/bad"
cp "$tmp/dep.without" "$bad/modules.dep.bin"
hostile "a module the alias index names and modules.dep.bin does not" 2 "module edu_next is not listed \(.*/modules.dep.bin\)"
fresh
rm "$bad/modules.dep.bin"
hostile "no modules.dep.bin" 2 "No such file or directory \(.*/modules.dep.bin\)"
fresh
echo "alias liveupdate:G$S1 edu_next" >"$bad/modules.alias.bin"
hostile "a modules.alias.bin that is text" 2 "not a depmod index \(run depmod on the tree\) \(.*/modules.alias.bin\)"
rm "$bad/modules.alias.bin" && ln -s modules.alias.bin "$bad/modules.alias.bin"
hostile "a modules.alias.bin that is a loop" 2 "Too many levels of symbolic links \(.*/modules.alias.bin\)"

# ---- bind, after "kexec": modules are loaded only under the real /sys, so
# the fake tree says edu_next is loaded, and the "kernel" binds on probe.
mkdir -p "$sys/module/edu_next/drivers/pci:edu_next" "$sys/bus/pci/drivers/edu_next"
ln -s ../../../bus/pci/drivers/edu_next "$sys/bus/pci/devices/0000:01:00.0/driver"
: >"$sys/bus/pci/devices/0000:01:00.0/liveupdate_state"
: >"$sys/bus/pci/devices/0000:01:00.0/liveupdate_schema"
expect "bind" 0 kernel bind "$tmp/handover.img" --sysfs "$sys" --modules "$mods" --json
check "edu0 bound to the driver edu_next registered on this boot" '.ok == true and (.decisions[0] | .action == "convert" and .module == "edu_next" and .driver == "edu_next" and .bound == true and .state_restored == true)'
check "edu1 quarantined" '.decisions[1] | .action == "quarantine" and .bound == false and .driver == null and (.result | startswith("quarantined"))'
file_is "edu0 override names this boot's driver" "$sys/bus/pci/devices/0000:01:00.0/driver_override" "edu_next"
file_is "edu1 override matches no driver" "$sys/bus/pci/devices/0000:02:00.0/driver_override" "baton-quarantine"
file_is "the record's schema was announced" "$sys/bus/pci/devices/0000:01:00.0/liveupdate_schema" "$S1"
file_is "the state was handed back" "$sys/bus/pci/devices/0000:01:00.0/liveupdate_state" "edu-lu-state:counter=42"

# The module is not loaded on this "boot": nothing binds, nothing is lost.
rm -rf "$sys/module/edu_next"
expect "bind when the module cannot be loaded fails the mandatory device" 1 kernel bind "$tmp/handover.img" --sysfs "$sys" --modules "$mods" --json
check "the failure is reported, not hidden" '.ok == false and (.decisions[0].result | contains("not loaded")) and .decisions[0].bound == false'

# A device gone after kexec is released; --orphan reset probes cold.
rm -rf "$sys/bus/pci/devices/0000:01:00.0"
expect "bind with the mandatory device gone" 1 kernel bind "$tmp/handover.img" --sysfs "$sys" --modules "$mods" --orphan reset --json
check "gone is released, the orphan is reset" '.decisions[0].action == "release" and .decisions[0].result == "absent" and .decisions[1].action == "reset"'
file_is "reset clears the override" "$sys/bus/pci/devices/0000:02:00.0/driver_override" ""
file_is "reset probes the device cold" "$sys/bus/pci/drivers_probe" "0000:02:00.0"

# ---- a kernel with Baton's patch series (kernel/patches): each device has
# the PCI core's live_update_schema ("none" until written).  save records
# the schema there, all or none; bind writes no driver_override and probes
# nothing: it loads the module and reports what the kernel decided.
sys=$tmp/psys
device 0000:01:00.0 $S1 "edu-lu-state:counter=42"
device 0000:02:00.0 $S0 "old-format"
: >"$sys/bus/pci/drivers_probe"
pdev=$sys/bus/pci/devices
for a in 0000:01:00.0 0000:02:00.0; do echo none >"$pdev/$a/live_update_schema"; done
dashed() { echo "$1" | sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/'; }
NULL_GUID=00000000-0000-0000-0000-000000000000
expect "save on a kernel with the series" 0 kernel save --sysfs "$sys" -o "$tmp/p.img" --mandatory 0000:01:00.0 --json
check "save reports each record the kernel now holds" ".devices[0].kernel_record == \"$(dashed $S1)\" and .devices[1].kernel_record == \"$(dashed $S0)\""
file_is "edu0's schema went to the kernel" "$pdev/0000:01:00.0/live_update_schema" "$(dashed $S1)"
file_is "edu1's schema went to the kernel" "$pdev/0000:02:00.0/live_update_schema" "$(dashed $S0)"
expect "save says so in text too" 0 kernel save --sysfs "$sys" -o "$tmp/p.img" --mandatory 0000:01:00.0
grep -q "recorded in the kernel (live_update_schema $(dashed $S1))" "$tmp/out" &&
	ok "the text report names the record" || not_ok "the text report names the record"
# The kernel refuses edu1's record (a directory stands for any failed
# write): the save fails saying so, and edu0's record is cleared again.
echo none >"$pdev/0000:01:00.0/live_update_schema"
rm "$pdev/0000:02:00.0/live_update_schema" && mkdir "$pdev/0000:02:00.0/live_update_schema"
expect "a record the kernel refuses fails the save" 2 kernel save --sysfs "$sys" -o "$tmp/refused.img"
grep -q "Is a directory: the kernel did not take the record (.*/0000:02:00.0/live_update_schema)" "$tmp/err" &&
	ok "the error names the refused record" || not_ok "the error names the refused record"
file_is "the record written before it was cleared (null GUID)" "$pdev/0000:01:00.0/live_update_schema" "$NULL_GUID"
holds "no image was written" '[ ! -e "$tmp/refused.img" ]'
rmdir "$pdev/0000:02:00.0/live_update_schema"
for a in 0000:01:00.0 0000:02:00.0; do echo none >"$pdev/$a/live_update_schema"; done
# The image cannot be stored: no preserved device either.
expect "save whose image cannot be written" 2 kernel save --sysfs "$sys" -o "$tmp/nowhere/p.img"
file_is "edu0's record cleared" "$pdev/0000:01:00.0/live_update_schema" "$NULL_GUID"
file_is "edu1's record cleared" "$pdev/0000:02:00.0/live_update_schema" "$NULL_GUID"

# After the "kexec": the kernel carried both records; loading edu_next bound
# edu0 (its record now S2, the schema edu_next writes); edu1 stays unbound.
dashed "$S2" >"$pdev/0000:01:00.0/live_update_schema"
dashed "$S0" >"$pdev/0000:02:00.0/live_update_schema"
: >"$pdev/0000:01:00.0/liveupdate_schema"
mkdir -p "$sys/module/edu_next/drivers/pci:edu_next" "$sys/bus/pci/drivers/edu_next"
ln -s ../../../bus/pci/drivers/edu_next "$pdev/0000:01:00.0/driver"
expect "bind on a kernel with the series" 0 kernel bind "$tmp/p.img" --sysfs "$sys" --modules "$mods" --json
check "edu0: the kernel bound it to edu_next, as planned" ".ok == true and (.decisions[0] | .action == \"convert\" and .module == \"edu_next\" and .driver == \"edu_next\" and .bound == true and .state_restored == false and (.result | startswith(\"the kernel bound it to edu_next\")) and .kernel_record == \"$(dashed $S2)\")"
check "edu1: quarantined by the kernel, its record kept" ".decisions[1] | .action == \"quarantine\" and .bound == false and .driver == null and (.result | startswith(\"quarantined by the kernel: record $(dashed $S0)\")) and .kernel_record == \"$(dashed $S0)\""
file_is "no driver_override written on edu0" "$pdev/0000:01:00.0/driver_override" ""
file_is "no driver_override written on edu1" "$pdev/0000:02:00.0/driver_override" ""
file_is "nothing probed" "$sys/bus/pci/drivers_probe" ""
file_is "no state handed back through the driver's attribute" "$pdev/0000:01:00.0/liveupdate_schema" ""
# The records did not survive: the kernel binds nothing, bind says why.
# A record that is no GUID, "none" or "lost" is not taken for one.
rm "$pdev/0000:01:00.0/driver"
echo lost >"$pdev/0000:01:00.0/live_update_schema"
echo "not a guid" >"$pdev/0000:02:00.0/live_update_schema"
expect "bind when the kernel lost the records fails the mandatory device" 1 kernel bind "$tmp/p.img" --sysfs "$sys" --modules "$mods" --json
check "the kernel's refusal is reported" '.ok == false and (.decisions[0] | .bound == false and .kernel_record == "lost" and (.result | contains("its record was lost")))'
check "a record Baton cannot read is blocked by the override, as on any kernel" '.decisions[1] | .kernel_record == null and (.result | startswith("quarantined: override baton-quarantine"))'
file_is "its override was written" "$pdev/0000:02:00.0/driver_override" "baton-quarantine"
: >"$pdev/0000:02:00.0/driver_override"
# A device that came with no record ("none"): the kernel does not keep it
# from other drivers, so bind does, with the override.
echo none >"$pdev/0000:01:00.0/live_update_schema"
ln -s ../../../bus/pci/drivers/edu_next "$pdev/0000:01:00.0/driver"
expect "bind when the kernel before recorded nothing" 0 kernel bind "$tmp/p.img" --sysfs "$sys" --modules "$mods" --json
check "the userspace path: bound through the override, state handed back" '.decisions[0] | .bound == true and .state_restored == true and .kernel_record == "none" and .result == "bound to edu_next, state restored"'
file_is "edu0's override names the driver" "$pdev/0000:01:00.0/driver_override" "edu_next"
dashed "$S0" >"$pdev/0000:02:00.0/live_update_schema"
: >"$pdev/0000:02:00.0/driver_override"
: >"$sys/bus/pci/drivers_probe"
# --orphan reset releases edu1 through its record, not the override.
expect "bind --orphan reset on a kernel with the series" 0 kernel bind "$tmp/p.img" --sysfs "$sys" --modules "$mods" --orphan reset --json
check "edu1 is reset" '.decisions[1].action == "reset"'
file_is "reset releases edu1's record (null GUID)" "$pdev/0000:02:00.0/live_update_schema" "$NULL_GUID"
file_is "reset leaves driver_override alone" "$pdev/0000:02:00.0/driver_override" ""
file_is "and probes edu1 cold" "$sys/bus/pci/drivers_probe" "0000:02:00.0"
expect "bind usage" 2 kernel bind
expect "bind with a bad --orphan" 2 kernel bind "$tmp/handover.img" --orphan keep

tap_done
