#!/bin/sh
# `baton demo`, as a user runs it: devsim's devices, demo-host v1 driving
# them, a live update to v2 and a refused way back, with the packets devsim
# generated counted against those the drivers received.  Then the control
# run, where the driver lets its connections close: devsim resets the
# devices and packets are lost - what Baton avoids.  TAP output.
#
# usage: test_demo.sh BATON BINDIR_OF_DEVSIM BINDIR_OF_DEMO_HOSTS
set -u
baton=$1
bindir=$(mktemp -d)
# baton demo finds its three programs in one directory.
ln -s "$2/devsim" "$bindir/devsim"
ln -s "$3/demo-host-v1" "$3/demo-host-v2" "$bindir/"
. "$(dirname "$0")/tap.sh"
trap 'rm -rf "$bindir" "$tmp"' EXIT

expect "the demo, exec mode" 0 demo --bindir "$bindir" --json
check "verdict ok: nothing lost or duplicated, no device reset" '.verdict == "ok" and .packets.lost == 0 and .packets.duplicated == 0 and .device_resets == 0'
check "devsim's count of generated packets is what the drivers received" '.packets.generated > 0 and .packets.received == .packets.generated'
check "v1 -> v2 updated, with a blackout measured" '.updates[0] | .from == "demo-host v1" and .to == "demo-host v2" and .outcome == "updated" and .blackout_ms > 0'
check "each pktgen goes to nicx through the converter" '[.updates[0].decisions[] | select(.address | startswith("0000:01:"))] | length == 2 and all(.action == "convert" and .driver == "nicx")'
check "edu is bound to edu; the legacy device is quarantined, no driver" '.updates[0].decisions | (map(select(.address == "0000:02:00.0"))[0] | .action == "bind" and .driver == "edu") and (map(select(.address == "0000:03:00.0"))[0] | .action == "quarantine" and .driver == null)'
check "v2 -> v1 refused: v1 cannot read pktgen-state v2" '.updates[1] | .outcome == "refused" and .blackout_ms == null and ([.decisions[] | select(.address | startswith("0000:01:")) | .action] | unique == ["quarantine"])'

expect "the demo, socket mode, four pktgen devices" 0 demo --bindir "$bindir" --mode socket --devices 4 --rate 10000 --json
check "socket mode: verdict ok over four devices" '.verdict == "ok" and .packets.lost == 0 and .packets.duplicated == 0 and .device_resets == 0 and ([.updates[0].decisions[] | select(.driver == "nicx")] | length == 4)'

expect "the demo, human output" 0 demo --bindir "$bindir" --packets 500
if grep -q '^verdict: ok' "$tmp/out" && grep -q 'convert.*nicx' "$tmp/out" &&
   grep -q 'refused' "$tmp/out"; then ok "it says what happened, and the verdict"; else
	sed 's/^/#   /' "$tmp/out"; not_ok "it says what happened, and the verdict"; fi

expect "the control run: connections dropped" 1 demo --bindir "$bindir" --drop-connections --json
# What the rings held at the reset is lost; the program drains them while
# the dry run runs, so that may be nothing: the resets are the failure.
check "without the connection, devsim resets each pktgen: the verdict says failed" '.verdict == "failed" and .device_resets >= 2'
check "the update itself still went ahead: the loss is the reset's" '.updates[0].outcome == "updated"'

expect "--devices out of range" 2 demo --bindir "$bindir" --devices 9
expect "--mode unknown" 2 demo --bindir "$bindir" --mode carrier-pigeon
expect "a missing bindir" 2 demo --bindir "$tmp/nowhere"

tap_done
