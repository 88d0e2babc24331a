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
mods=$tmp/lib/modules/6.1.0-test
mkdir -p "$mods/extra"
modinfo() { # NAME "key=value"...
	name=$1
	shift
	{
		for kv in "$@"; do
			printf 'static const char __attribute__((used, section(".modinfo"))) i%s[] = "%s";\n' \
				"$(echo "$kv" | cksum | cut -d' ' -f1)" "$kv"
		done
		echo "int $name;"
	} >"$tmp/$name.c"
	$cc -c -o "$mods/extra/$name.ko" "$tmp/$name.c"
}
modinfo edu_lu "liveupdate_writes=$S1" "license=GPL"
modinfo edu_next "liveupdate_writes=$S2" "liveupdate_priority=5" "license=GPL"
modinfo edu_plain "license=GPL"
cat >"$mods/modules.alias" <<ALIAS
# Aliases extracted from modules themselves.
alias pci:v00001234d000011E8sv*sd*bc*sc*i* edu_next
alias liveupdate:G$S2 edu_next
alias liveupdate:G$S1 edu_next
alias pci:v00001234d000011E8sv*sd*bc*sc*i* edu_plain
alias pci:v*d*sv*sd*bc0Csc03i30* xhci_pci
ALIAS
printf 'extra/edu_lu.ko:\nextra/edu_next.ko:\nextra/edu_plain.ko:\n' >"$mods/modules.dep"

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
cp "$mods/modules.alias" "$tmp/alias.next"
printf 'alias pci:v00001234d000011E8sv*sd*bc*sc*i* edu_lu\nalias liveupdate:G%s edu_lu\n' $S1 >>"$mods/modules.alias"
expect "tree with edu_lu too: native beats converter" 0 plan --json "$tmp/handover.img" --modules "$mods"
check "native bind to edu_lu" '.decisions[0].action == "bind" and .decisions[0].driver == "edu_lu"'
grep -v 'edu_next' "$tmp/alias.next" >"$mods/modules.alias"
expect "tree with neither: refused" 1 plan "$tmp/handover.img" --modules "$mods"
cp "$tmp/alias.next" "$mods/modules.alias"
echo "alias liveupdate:Gnothex edu_plain" >>"$mods/modules.alias"
expect "a malformed liveupdate alias is invalid input" 2 plan "$tmp/handover.img" --modules "$mods"
grep -q "modules.alias:7)" "$tmp/err" && ok "the error names the line" || not_ok "the error names the line"
cp "$tmp/alias.next" "$mods/modules.alias"
expect "a missing module tree is invalid input" 2 plan "$tmp/handover.img" --modules "$tmp/nowhere"

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
expect "bind usage" 2 kernel bind
expect "bind with a bad --orphan" 2 kernel bind "$tmp/handover.img" --orphan keep

tap_done
