#!/bin/bash
# baton kexec --socket where it can run without rebooting the machine: the
# programs' side of a kernel update and every way it stops before the
# reboot, on real programs.  kvcache (items stored by kvload) answers the
# preflight with what a kexec keeps (its regions) and drops (its sockets);
# on a kernel without the Live Update Orchestrator (this machine's) the
# agent stops before anything is frozen; with BATON_LUO_DEVICE=/dev/null
# (a device that opens and refuses every LUO call) it gets past the open:
# a kvcache whose PREPARE fails refuses, and the one handed over before it
# resumes with every item; a program handed over with the kernel path's
# image (--image and --socket in one kexec) resumes when the image's
# session cannot be made, the image left as it was; demo-host, whose
# mandatory vfio-user devices would lose their connections, refuses before
# anything is frozen; a demo-host whose pktgen is --optional is carried
# instead: its device is reset after the restart, its ring region comes
# back (the same memfd), and it probes the device again when a new devsim
# serves it.  The agent's second half starts a program with its output in
# a log of its own.  The real kexec runs in tests/vm
# (luo-programs).  TAP output.  bash.
#
# usage: test_kexec_programs.sh BATON KVCACHE KVLOAD DEVSIM DEMO_HOST REAP KEXEC_RESTART
set -u
baton=$1 kv=$2 kvload=$3 devsim=$4 demo=$5 reap=$6 restart=$7
export REAP=${REAP:-$reap}
. "$(dirname "$0")/tap.sh"

# serve NAME ARGS...: a server under reap, logged; $reaper set.
serve() {
	local name=$1
	shift
	"$reap" -l "$tmp/$name.procs" -t 110 -- "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
	reaper=$!
	reapers="$reapers $reaper"
}
status_of() { "$baton" status --socket "$1" --json 2>/dev/null; }

serve kv1 "$kv" --port 0 --memory 16 --control "$tmp/kv1.sock"
wait_for "kvcache to listen" 10 'grep -q "listening on" "$tmp/kv1.out" 2>/dev/null && [ -S "$tmp/kv1.sock" ]'
port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/kv1.out")
if "$kvload" set "$port" 8 >"$tmp/set.json"; then ok "8 MiB of items stored with kvload"; else not_ok "8 MiB of items stored"; fi
BATON_FAULT=prepare:eio serve kv2 "$kv" --port 0 --memory 4 --control "$tmp/kv2.sock"
wait_for "the second kvcache" 10 '[ -S "$tmp/kv2.sock" ]'
printf 'not a kernel' >"$tmp/vmlinuz"

# ---- the preflight: kept, dropped, the plan; nothing touched ----
expect "--dry-run: the preflight of a kvcache (exit 2 only for want of LUO)" \
	"$([ -e /dev/liveupdate ] && echo 0 || echo 2)" \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv1.sock" --dry-run --json
# The request itself, as baton kexec sends it.
timeout 10 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"kexec\",\"phase\":\"preflight\"}\n")
sys.stdout.write(s.makefile().readline())' "$tmp/kv1.sock" >"$tmp/out"
check "preflight: the item region is kept, with its size" \
	'.outcome == "preflight" and ([.keeps[] | select(.label == "items-v2" and .size == 16777216)] | length == 1)'
check "preflight: the listener and the control socket are dropped" \
	'([.drops[] | select(.kind == "socket")] | length >= 1) and ([.drops[] | select(.kind == "control socket")] | length == 1)'
check "preflight: the store device is bound by its own driver, the command line recorded" \
	'.decisions[0].action == "bind" and (.exec | startswith("/")) and (.argv | length >= 5)'
holds "the preflight froze nothing: status says running, generation 0" \
	'[ "$(status_of "$tmp/kv1.sock" | jq -r .state)" = running ] && [ "$(status_of "$tmp/kv1.sock" | jq -r .generation)" = 0 ]'

# ---- holes: preserving a memfd fills them (docs/luo.md, "Holes") ----
# kv1's 16 MiB item region holds 8 MiB of items: what the dry run says
# of it must be what stat(1) says of the memfd itself, through /proc.
kv1pid=$(status_of "$tmp/kv1.sock" | jq -r .pid)
memfd=$(for f in /proc/"$kv1pid"/fd/*; do
	case $(readlink "$f") in "/memfd:items-v2 (deleted)") echo "$f"; break;; esac; done)
read -r blocks unit bytes < <(stat -L -c '%b %B %s' "$memfd")
witness=$((blocks * unit))
page=$(getconf PAGESIZE)
BATON_LUO_DEVICE=/dev/null expect "--dry-run --json with a half-written region: exit 0" 0 \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv1.sock" --dry-run --json
check "the region's size, allocated bytes and holes are stat's ($bytes, $witness, the rest)" \
	"(.programs[0].memory.regions[] | select(.label == \"items-v2\")) as \$r |
	 \$r.size == $bytes and \$r.allocated == $witness and
	 \$r.holes == (($bytes + $page - 1) / $page | floor) * $page - $witness and
	 \$r.allocated > 0 and \$r.holes > 0"
check "per program and in all, counted by the program (a claim: no memfd at the preflight)" \
	'.programs[0].memory.counted_by == "program" and
	 .memory.holes == .programs[0].memory.holes and
	 .programs[0].memory.holes == ([.programs[0].memory.regions[].holes] | add) and
	 .memory.size == ([.programs[0].memory.regions[].size] | add)'
BATON_LUO_DEVICE=/dev/null expect "--dry-run, for a person: exit 0" 0 \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv1.sock" --dry-run
holds "it says in one line that preserving fills the holes" \
	'grep -Eq "^preserving fills [0-9]+\.[0-9] MiB of holes in kvcache-v2 [0-9.]+'"'"'s regions \([0-9]+ bytes, as the program says\): memory and time the kexec pays$" "$tmp/out"'

# A program's numbers are claims: bounded, checked, never believed past
# its region's size.  A fake program answers what answer.json holds.
python3 - "$tmp/fake.sock" "$tmp/answer.json" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(open(sys.argv[2], "rb").read())
    c.close()
PY
fake=$!
wait_for "the fake program to listen" 10 '[ -S "$tmp/fake.sock" ]'
claim() {
	printf '{"outcome":"preflight","program":"fake","pid":1,"generation":0,"exec":"/bin/true","argv":["true"],"keeps":[{"label":"r","size":%s,"allocated":%s}],"drops":[],"decisions":[]}\n' "$1" "$2" >"$tmp/answer.json"
}
claim 4096 1073741824
BATON_LUO_DEVICE=/dev/null expect "a claim of more allocated than the region holds: exit 0" 0 \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/fake.sock" --dry-run --json
check "it counts the region's size at most, and no hole" \
	'.programs[0].memory.regions[0].allocated == 4096 and .programs[0].memory.holes == 0'
for bad in '-1 0' '4096 -1' '4096 "4096"' '4096 null' '17592186044416 0'; do
	claim $bad
	BATON_LUO_DEVICE=/dev/null expect "a claim of size/allocated $bad: refused, exit 2" 2 \
		kexec --kernel "$tmp/vmlinuz" --socket "$tmp/fake.sock" --dry-run --json
	holds "it says the preflight's regions are wrong, and nothing froze" \
		'grep -q "^baton: $tmp/fake.sock: the preflight'"'"'s regions: .*; nothing frozen$" "$tmp/err" && [ ! -s "$tmp/out" ]'
done
# A program handing over says how long it stays frozen: never longer than
# the agent asked, or the agent could reboot after it resumed on its own.
for deadline in 5001 -1 '"5"' 18446744073709551615; do
	printf '{"outcome":"handing-over","program":"fake","pid":1,"generation":0,"keeps":[{"label":"r","size":4096,"allocated":4096}],"drops":[],"decisions":[],"deadline_ms":%s}\n' \
		"$deadline" >"$tmp/answer.json"
	BATON_LUO_DEVICE=/dev/null expect "a handover frozen for deadline_ms $deadline, asked 5000: exit 2" 2 \
		kexec --kernel "$tmp/vmlinuz" --socket "$tmp/fake.sock" --timeout 5000
	holds "it says the deadline is out of bounds, and the program resumes" \
		'grep -q "^baton: $tmp/fake.sock: its deadline_ms is not a count of 0 to 5000 ms; every program resumes$" "$tmp/err"'
done
kill "$fake"

# ---- a program that fails PREPARE: the one before it resumes ----
# (the device /dev/null opens, as /dev/liveupdate would.)
BATON_LUO_DEVICE=/dev/null expect "kv1 then a kvcache failing PREPARE: exit 2" 2 \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv1.sock" --socket "$tmp/kv2.sock"
holds "the error names the program and its PREPARE, and every program resumes" \
	'grep -q "^baton: $tmp/kv2.sock: the program'"'"'s prepare: Input/output error; every program resumes$" "$tmp/err"'
holds "kv1 said it resumed" 'grep -q "^baton: $tmp/kv1.sock: resumed$" "$tmp/err"'
holds "kv2, which refused and was never frozen, is not told to resume" \
	'! grep -Eq "^baton: $tmp/kv2.sock: (resumed|did not say it resumed)$" "$tmp/err"'
holds "both run on, generation 0" \
	'[ "$(status_of "$tmp/kv1.sock" | jq -r .state)" = running ] && [ "$(status_of "$tmp/kv2.sock" | jq -r .state)" = running ]'
if "$kvload" check "$port" 8 >"$tmp/check.json"; then ok "every item reads back after the resume"; else not_ok "every item reads back after the resume"; fi

# ---- no LUO: the agent stops before anything is frozen ----
if [ -e /dev/liveupdate ]; then
	ok "# SKIP this kernel has /dev/liveupdate: a failed open is not seen"
else
	expect "kexec with no LUO: exit 2" 2 kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv1.sock"
	holds "it says why in Baton's words, and that nothing was frozen" \
		'grep -q "^baton: /dev/liveupdate: absent: .* (open); nothing frozen, every program runs on$" "$tmp/err"'
	holds "no program was asked to hand over (none says it resumed)" '! grep -q resumed "$tmp/err"'
	holds "kv1 runs on, generation 0, never frozen" \
		'[ "$(status_of "$tmp/kv1.sock" | jq -r .state)" = running ] && [ "$(status_of "$tmp/kv1.sock" | jq -r .generation)" = 0 ]'
fi

# ---- --image and --socket in one kexec ----
dtc -q -I dts -O dtb -o "$tmp/good.dtb" "$(dirname "$0")/../data/good.dts" &&
	"$baton" image pack "$tmp/good.dtb" -o "$tmp/kernel.img" >/dev/null ||
	not_ok "packing tests/data/good.dts"
cp "$tmp/kernel.img" "$tmp/kernel.img.before"
printf 'not an image' >"$tmp/bad.img"
BATON_LUO_DEVICE=/dev/null expect "--image and --socket, a corrupt image: exit 2" 2 \
	kexec --kernel "$tmp/vmlinuz" --image "$tmp/bad.img" --socket "$tmp/kv1.sock"
holds "the image is refused before any program is asked" \
	'grep -q "^baton: $tmp/bad.img: " "$tmp/err" && ! grep -q resumed "$tmp/err" && [ "$(wc -l <"$tmp/err")" = 1 ]'
BATON_LUO_DEVICE=/dev/null expect "--image and --socket, dry run: exit 0" 0 \
	kexec --kernel "$tmp/vmlinuz" --image "$tmp/kernel.img" --socket "$tmp/kv1.sock" --dry-run --json
check "the dry run names the program and the image's session, and nothing else is on stdout" \
	'.dry_run == true and (.programs | length) == 1 and .kernel_image.session == "baton-kernel" and
	 .kernel_image.token == 1 and .kernel_image.image_bytes > 0 and .phases_ms == null'
BATON_LUO_DEVICE=/dev/null expect "--image and --socket: a session that cannot be made after the handover: exit 2" 2 \
	kexec --kernel "$tmp/vmlinuz" --image "$tmp/kernel.img" --socket "$tmp/kv1.sock"
holds "it says which session, and that kv1, handed over, resumed" \
	'grep -q "^baton: /dev/null: not a Live Update Orchestrator device (create session baton-kernel)$" "$tmp/err" && grep -q "^baton: $tmp/kv1.sock: resumed$" "$tmp/err"'
holds "the kernel path's image is as it was" 'cmp -s "$tmp/kernel.img" "$tmp/kernel.img.before"'
if "$kvload" check "$port" 8 >"$tmp/check.json"; then ok "every item reads back after a frozen handover and its resume"; else not_ok "every item after a frozen handover"; fi
holds "kv1 serves a new request after it, generation 0" \
	'[ "$(status_of "$tmp/kv1.sock" | jq -r .state)" = running ] && [ "$(status_of "$tmp/kv1.sock" | jq -r .generation)" = 0 ]'
expect "--log-dir is for the restore of programs only" 2 \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv1.sock" --log-dir "$tmp"
expect "--restore with a log directory that cannot be made: exit 2" 2 \
	kexec --restore --log-dir "$tmp/none/logs"
holds "it says so before any session is touched" \
	'grep -q "^baton: $tmp/none/logs: cannot make the log directory: No such file or directory; no session touched$" "$tmp/err"'

# ---- after a kexec, without the kernel: kexec_restart hands kv1's image
# and region memfds (the same pages) to a new kvcache, as baton kexec
# --restore does with what the kernel gives back ----
kv1pid=$(status_of "$tmp/kv1.sock" | jq -r .pid)
serve kv3 "$restart" "$tmp/kv1.sock" --log "$tmp/kv3.log" -- "$kv" --port 0 --memory 16 --control "$tmp/kv3.sock"
wait_for "the restarted kvcache's answer" 20 '[ "$(wc -l <"$tmp/kv3.out")" -ge 2 ]'
head -n 1 "$tmp/kv3.out" >"$tmp/out"
check "restarted on kv1's image and regions: it took over (rc 0)" '.rc == 0 and .pid > 0'
sed -n 2p "$tmp/kv3.out" >"$tmp/out"
check "kv1, handed over, resumed once told" '.outcome == "resumed"'
holds "the restarted kvcache writes to its log, not to the agent's stdout (two JSON lines alone)" \
	'grep -q "listening on" "$tmp/kv3.log" && [ "$(wc -l <"$tmp/kv3.out")" = 2 ] && jq -e . "$tmp/kv3.out" >/dev/null'
# The kexec would have ended kv1: it goes, and kv3 alone has the pages.
kill -TERM "$kv1pid"
wait_for "kv1 to be gone" 10 '! kill -0 "$kv1pid" 2>/dev/null'
port3=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/kv3.log")
status_of "$tmp/kv3.sock" >"$tmp/out"
check "the restarted kvcache: generation 1, restored, its item region the same size" \
	'.generation == 1 and ([.regions[] | select(.label == "items-v2" and .size == 16777216)] | length == 1)'
holds "its control socket was made again, and no fd came but the regions" \
	'[ "$(jq "[.sessions[].fds[]] | length" "$tmp/out")" -le 1 ]'
if "$kvload" check "$port3" 8 >"$tmp/check.json"; then ok "every item reads back from the restarted kvcache, over a new connection"; else cat "$tmp/check.json"; not_ok "every item reads back from the restarted kvcache"; fi
# A corrupt image: the program refuses it, and the agent would start it cold.
serve kv4 "$restart" "$tmp/kv3.sock" --corrupt -- "$kv" --port 0 --memory 16 --control "$tmp/kv4.sock"
wait_for "the answer to a corrupt image" 20 '[ "$(grep -c "^{" "$tmp/kv4.out")" -ge 2 ]'
grep '^{' "$tmp/kv4.out" | head -n 1 >"$tmp/out"
check "a corrupt image is refused by the program started on it, saying why" \
	'.rc != 0 and (.why | test("could not restore: header: magic"))'
holds "kv3 resumed and serves its items" \
	'"$kvload" check "$port3" 8 >/dev/null && [ "$(status_of "$tmp/kv3.sock" | jq -r .state)" = running ]'

# ---- a mandatory vfio-user device refuses before anything is frozen ----
# (kv3 first: it would have been frozen, were the refusal not up front.)
mkdir -p "$tmp/devsim"
serve devsim "$devsim" --dir "$tmp/devsim" --device pktgen@0000:00:10.0,rate=1000
wait_for "devsim's socket" 10 '[ -n "$(ls "$tmp/devsim" 2>/dev/null)" ]'
serve demo "$demo" --devsim "$tmp/devsim" --control "$tmp/demo.sock"
wait_for "demo-host's control socket" 10 '[ -S "$tmp/demo.sock" ]'
expect "demo-host: kexec refused, exit 2" 2 \
	kexec --kernel "$tmp/vmlinuz" --socket "$tmp/kv3.sock" --socket "$tmp/demo.sock"
holds "the refusal names the mandatory device and why, nothing frozen" \
	'grep -q "^baton: $tmp/demo.sock: mandatory 0000:00:10.0 would not be bound after a kexec (quarantine): [0-9]* fds of its session cannot cross a kexec (the kernel carries memfds only) — quarantine (the record.s policy); nothing frozen$" "$tmp/err"'
holds "no program was asked to hand over (none says it resumed)" '! grep -q resumed "$tmp/err"'

# ---- an optional device: dropped, not refused; probed again later ----
# E's pktgen may be reset: a kexec drops its connection.  kexec_restart
# starts F on E's image and regions as the agent would after the kexec,
# with F's devsim directory empty (the device not back yet); E then goes,
# as the kexec would end it, and a new devsim serves the device to F.
mkdir -p "$tmp/devsim-e" "$tmp/devsim-f"
serve devsim_e "$devsim" --dir "$tmp/devsim-e" --device pktgen@0000:00:10.0,rate=1000
wait_for "devsim E's socket" 10 '[ -S "$tmp/devsim-e/0000:00:10.0.sock" ]'
serve demo_e "$demo" --devsim "$tmp/devsim-e" --control "$tmp/demo-e.sock" --optional
wait_for "demo-host E's control socket" 10 '[ -S "$tmp/demo-e.sock" ]'
timeout 10 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"kexec\",\"phase\":\"preflight\"}\n")
sys.stdout.write(s.makefile().readline())' "$tmp/demo-e.sock" >"$tmp/out"
check "optional pktgen: the preflight drops its connection and resets it, in the planner's words" \
	'.outcome == "preflight" and (.decisions[0] | .action == "reset" and .mandatory == false and
	 (.reason | test("^[0-9]+ fds of its session cannot cross a kexec \\(the kernel carries memfds only\\) — reset \\(the record.s policy\\)$")))'
check "optional pktgen: the ring region is kept, the device's socket and eventfd dropped" \
	'([.keeps[] | select(.label == "pktgen-dma")] | length == 1) and
	 ([.drops[] | select(.session == "0000:00:10.0") | .kind] | index("socket") != null and index("eventfd") != null)'
ring_of() { # PID: the inode of its pktgen-dma memfd
	local f
	for f in /proc/"$1"/fd/*; do
		case $(readlink "$f") in "/memfd:pktgen-dma (deleted)") stat -L -c %i "$f"; return ;; esac
	done
}
epid=$(status_of "$tmp/demo-e.sock" | jq -r .pid)
ering=$(ring_of "$epid")
# restart_e NAME: kexec_restart hands E over to a demo-host NAME, which
# restores with the device dropped; E resumes.
restart_e() {
	serve "$1" "$restart" "$tmp/demo-e.sock" -- "$demo" --devsim "$tmp/devsim-f" \
		--control "$tmp/$1.sock" --optional --stats "$tmp/$1.stats"
	wait_for "the restarted demo-host's answer" 20 '[ "$(grep -c "^{" "$tmp/'"$1"'.out")" -ge 2 ]'
	grep '^{' "$tmp/$1.out" | head -n 1 >"$tmp/out"
}
restart_e demo_g
check "demo-host G restored on E's image and ring region with its device dropped: it took over" '.rc == 0 and .pid > 0'
status_of "$tmp/demo_g.sock" >"$tmp/out"
gpid=$(jq -r .pid "$tmp/out")
check "G, the device not back yet: its ring region is kept, unused" \
	'[.regions[] | select(.label == "pktgen-dma") | .users] == [0]'
expect "G updated (exec mode) before its device came back" 0 \
	update --socket "$tmp/demo_g.sock" --to "$demo" --mode exec
status_of "$tmp/demo_g.sock" >"$tmp/out"
check "the update let the unused ring region go: no record named it" \
	'.generation == 2 and ([.regions[] | select(.label == "pktgen-dma")] == [])'
kill -TERM "$gpid"
wait_for "G to be gone" 10 '! kill -0 "$gpid" 2>/dev/null'
restart_e demo_f
check "demo-host F restored on E's image and ring region with its device dropped: it took over" '.rc == 0 and .pid > 0'
holds "F reported the dropped device in the planner's words" \
	'grep -q "^demo-host: 0000:00:10.0: reset: [0-9]* fds of its session cannot cross a kexec (the kernel carries memfds only) — reset (the record.s policy)$" "$tmp/demo_f.err"'
kill -TERM "$epid"
wait_for "demo-host E to be gone" 10 '! kill -0 "$epid" 2>/dev/null'
status_of "$tmp/demo_f.sock" >"$tmp/out"
check "F: generation 1, no device yet, the ring region kept for its probe (no user)" \
	'.generation == 1 and .devices == [] and ([.regions[] | select(.label == "pktgen-dma") | .users] == [0])'
fpid=$(jq -r .pid "$tmp/out")
holds "F's ring region is E's memfd: the same pages" '[ -n "$ering" ] && [ "$(ring_of "$fpid")" = "$ering" ]'
serve devsim_f "$devsim" --dir "$tmp/devsim-f" --device pktgen@0000:00:10.0,rate=1000
wait_for "F to probe the device when its socket appears" 20 \
	'[ "$(status_of "$tmp/demo_f.sock" | jq -r ".devices[0].driver")" = pktgen ]'
status_of "$tmp/demo_f.sock" >"$tmp/out"
check "F's pktgen uses the kept ring region, the same process and generation" \
	".pid == $fpid and .generation == 1 and ([.regions[] | select(.label == \"pktgen-dma\") | .users] == [1])"
timeout 20 python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"wait-generated 50 15000\n")
sys.stdout.write(s.makefile().readline())' "$tmp/devsim-f/status.sock" >"$tmp/out"
check "the new devsim generated packets for F" '.devices[0].generated >= 50'
kill -TERM "$fpid"
wait_for "F's report" 10 '[ -s "$tmp/demo_f.stats" ]'
cp "$tmp/demo_f.stats" "$tmp/out"
check "F received them in order, none lost, on a device not reset under it" \
	'.generation == 1 and (.devices[0] | .received >= 1 and .lost == 0 and .device_reset == false)'

# Every server stops at SIGTERM; what each led to ended well.
for r in $reapers; do
	for p in $(descendants "$r"); do kill -TERM "$p" 2>/dev/null; done
done
for r in $reapers; do wait "$r" 2>/dev/null; done
reapers=
for s in kv1 kv2 kv3; do
	accounted "$s: every process ended well" "$tmp/$s.procs" ' signal 15$'
done
tap_done
