#!/bin/sh
# The baton command as a user runs it: exit codes, the one-line error
# format, --json output, on fixtures packed from DTS and on the test
# driver binaries.  TAP output.
#
# usage: test_cli.sh BATON DRIVERS_DIR DATA_DIR EXAMPLES_DIR  (DTC in env)
set -u
baton=$1 drivers=$2 data=$3 examples=$4
dtc=${DTC:-dtc}
v1=$drivers/test-drivers-v1
v2=$drivers/test-drivers-v2
changed=$drivers/test-drivers-changed
img1=$examples/host-v1.img
img2=$examples/host-v2.img

. "$(dirname "$0")/tap.sh"

# one_error_line NAME FILE SUBSTRING: stderr is exactly one line of the
# form "baton: FILE: what (where)" and contains SUBSTRING.
one_error_line() {
	lines=$(wc -l <"$tmp/err")
	if [ "$lines" -eq 1 ] && grep -q "^baton: $2: " "$tmp/err" &&
	   grep -qF -- "$3" "$tmp/err"; then ok "$1"; else
		echo "# expected one line 'baton: $2: ...$3...'"
		not_ok "$1"
	fi
}

pack() {
	"$dtc" -q -I dts -O dtb -o "$tmp/$2.dtb" "$1" &&
	"$baton" image pack "$tmp/$2.dtb" -o "$tmp/$2.img" >/dev/null
}

# ---- usage ----
expect "no command is a usage error" 2
expect "unknown command is a usage error" 2 frobnicate
expect "help exits 0" 0 --help
expect "inspect without an image is a usage error" 2 inspect
expect "unknown option is a usage error" 2 inspect --frob "$img1"
expect "plan with a bad --orphan is a usage error" 2 plan "$img1" "$v2" --orphan keep
expect "missing file is invalid input" 2 inspect "$tmp/nonexistent.img"
one_error_line "missing file error names the file" "$tmp/nonexistent.img" "No such file"

# ---- inspect ----
expect "inspect example image" 0 inspect "$img1"
grep -q "0000:00:04.0" "$tmp/out" && ok "inspect text lists devices" || not_ok "inspect text lists devices"
expect "inspect --json" 0 inspect --json "$img1"
check "inspect json: header" '.format_version == 1 and .generation == 1 and .program == "demo-host v1"'
check "inspect json: devices" '.devices | length == 4'
check "inspect json: device fields" '.devices[0] | .address == "0000:00:04.0" and .bus == "pci" and .schema == "3f7174ac-46a9-57ec-b761-b29cdbf15055" and .schema_name == "pktgen-state" and .schema_version == 1 and .state_size == 32 and .orphan == "quarantine" and .mandatory == true and .fds == [0,3] and .regions == [0]'
check "inspect json: ids" '.devices[2].ids == {"vendor":"1234","device":"11e8","subvendor":"1af4","subdevice":"1100","class":"00ff00"}'
check "inspect json: fds and regions" '(.fds | length == 6) and .fds[3].kind == "socket" and .fds[3].token == 512 and .regions[2] == {"index":2,"fd":2,"size":1048576,"label":"edu dma"}'
check "inspect json: optional flags default" '.devices[3].mandatory == false'

if pack "$data/good.dts" good; then
	expect "inspect the good fixture" 0 inspect --json "$tmp/good.img"
else
	not_ok "pack the good fixture"
fi

# Named fd sessions: one token in several sessions (rule C4).
if pack "$data/good-sessions.dts" sessions; then
	expect "inspect fds in sessions" 0 inspect --json "$tmp/sessions.img"
	check "inspect json: every fd has a session, \"\" the default" '[.fds[] | [.token, .session]] == [[256,""],[256,"edu0"],[512,"edu0"],[256,"net"],[768,""]]'
	expect "inspect fds in sessions, text" 0 inspect "$tmp/sessions.img"
	grep -q '^  fd@1  token 0x0000000000000100  vfio-device  session "edu0"$' "$tmp/out" &&
	grep -q '^  fd@0  token 0x0000000000000100  memfd$' "$tmp/out" &&
		ok "inspect text names a session unless the default" ||
		not_ok "inspect text names a session unless the default"
else
	not_ok "pack the sessions fixture"
fi

# VFIO devices' fds, with the kinds added after the others.
if pack "$data/good-vfio.dts" vfio; then
	expect "inspect VFIO fds" 0 inspect --json "$tmp/vfio.img"
	check "inspect json: the VFIO fd kinds" '[.fds[].kind] == ["memfd","vfio-device","vfio-group","vfio-container","eventfd","vfio-device","iommufd","eventfd"]'
else
	not_ok "pack the VFIO fixture"
fi

# Every bad fixture names what it breaks: "/* expect: TEXT */" on line 1.
for dts in "$data"/bad-*.dts; do
	name=$(basename "$dts" .dts)
	want=$(sed -n '1s|^/\* expect: \(.*\) \*/$|\1|p' "$dts")
	if [ -z "$want" ]; then
		not_ok "$name has an expect line"
		continue
	fi
	if ! pack "$dts" "$name"; then
		not_ok "$name packs"
		continue
	fi
	expect "$name is rejected" 2 inspect "$tmp/$name.img"
	one_error_line "$name: one clear error line" "$tmp/$name.img" "$want"
done

# Header damage, made from a good image with dd.
cp "$img1" "$tmp/magic.img"
printf 'X' | dd of="$tmp/magic.img" bs=1 seek=0 conv=notrunc 2>/dev/null
expect "bad magic is rejected" 2 inspect "$tmp/magic.img"
one_error_line "bad magic: one error line" "$tmp/magic.img" "magic"
head -c 100 "$img1" >"$tmp/short.img"
expect "truncated image is rejected" 2 inspect "$tmp/short.img"
one_error_line "truncated: one error line" "$tmp/short.img" "exceeds the 36 bytes after the header"
cp "$img1" "$tmp/crc.img"
printf '\377' | dd of="$tmp/crc.img" bs=1 seek=200 conv=notrunc 2>/dev/null
expect "tree corruption is caught by the CRC" 2 inspect "$tmp/crc.img"
one_error_line "crc: one error line" "$tmp/crc.img" "CRC"

# ---- image pack / unpack ----
expect "unpack" 0 image unpack "$img1" -o "$tmp/h1.dtb"
if "$dtc" -q -I dtb -O dts -o "$tmp/h1.dts" "$tmp/h1.dtb" && grep -q 'program = "demo-host v1"' "$tmp/h1.dts"; then
	ok "unpacked tree decompiles"; else not_ok "unpacked tree decompiles"; fi
expect "pack with a generation" 0 image pack "$tmp/h1.dtb" -o "$tmp/gen.img" --generation 7
expect "repacked image inspects" 0 inspect --json "$tmp/gen.img"
check "generation is the packed one" '.generation == 7 and (.devices | length == 4)'
expect "pack --json" 0 image pack "$tmp/h1.dtb" -o "$tmp/gen2.img" --json
check "pack json" '.output != null and .size > 64'
expect "pack refuses a non-tree" 2 image pack "$data/good.dts" -o "$tmp/x.img"
expect "pack without -o is a usage error" 2 image pack "$tmp/h1.dtb"

# ---- contracts ----
expect "contracts v2" 0 contracts --json "$v2"
check "contracts v2: drivers" '[.drivers[].name] == ["edu","nicx"]'
check "contracts v2: nicx accepts v2 natively and v1 by converter" '.drivers[1] | .priority == 10 and .accepts == [
	{"schema":"21df2dbf-a1ae-5f1a-93b2-24395398b445","schema_name":"pktgen-state","schema_version":2,"via":"native"},
	{"schema":"3f7174ac-46a9-57ec-b761-b29cdbf15055","schema_name":"pktgen-state","schema_version":1,"via":"converter","to":"21df2dbf-a1ae-5f1a-93b2-24395398b445"}]'
check "contracts v2: ids" '.drivers[1].ids == [{"vendor":"1234","device":"5050","subvendor":"any","subdevice":"any","class":"000000","class_mask":"000000"}]'
expect "contracts v1" 0 contracts "$v1"
grep -q "driver pktgen" "$tmp/out" && ok "contracts text names drivers" || not_ok "contracts text names drivers"
expect "contracts of a non-ELF file is invalid input" 2 contracts "$img1"
one_error_line "non-ELF: one error line" "$img1" "not an ELF file"

# ---- plan ----
expect "plan v1 image against v2 binary: ok" 0 plan --json "$img1" "$v2"
check "plan v1->v2: pktgen converted by nicx" '.ok == true and (.decisions[0] | .address == "0000:00:04.0" and .action == "convert" and .driver == "nicx")'
check "plan v1->v2: edu bound natively" '.decisions[2] | .action == "bind" and .driver == "edu"'
check "plan v1->v2: legacy quarantined" '.decisions[3] | .action == "quarantine" and .driver == null and (.reason | length > 0)'
expect "plan --orphan reset" 0 plan --json "$img1" "$v2" --orphan reset
check "plan reset override" '.decisions[3].action == "reset"'
expect "plan v1 image against v1 binary" 0 plan --json "$img1" "$v1"
check "plan v1->v1: everything binds" '[.decisions[].action] == ["bind","bind","bind","bind"]'
expect "plan v2 image against v1 binary is refused" 1 plan --json "$img2" "$v1"
check "plan v2->v1: not ok, pktgen orphaned" '.ok == false and .decisions[0].action == "quarantine" and .decisions[0].driver == null'
expect "plan text" 1 plan "$img2" "$v1"
grep -q "^refused: 2 of 3 mandatory devices would not bind" "$tmp/out" && ok "plan text verdict" || not_ok "plan text verdict"
expect "plan against a non-ELF binary" 2 plan "$img1" "$img2"

# ---- schema lock / check ----
expect "schema lock" 0 schema lock "$v1" -o "$tmp/v1.lock"
if [ -s "$tmp/v1.lock" ] && jq -e '.baton_schema_lock == 1 and (.schemas | length == 4)' "$tmp/v1.lock" >/dev/null; then
	ok "lock file lists the schemas"; else not_ok "lock file lists the schemas"; fi
expect "schema check: same binary" 0 schema check "$v1" "$tmp/v1.lock"
expect "schema check: v2 changed nothing locked" 0 schema check --json "$v2" "$tmp/v1.lock"
check "check v2: no change" '.ok == true and ([.schemas[] | select(.status == "changed")] | length == 0)'
expect "schema check: a changed release fails" 1 schema check --json "$changed" "$tmp/v1.lock"
check "check: layout change without a version bump" '.ok == false and (.schemas[] | select(.schema_name == "pktgen-state" and .schema_version == 1) | .status == "changed" and (.changes | index("field vlan added") != null) and (.changes | map(startswith("GUID ")) | any))'
check "check: layout moved under a pinned GUID" '.schemas[] | select(.schema_name == "legacy-state") | .status == "changed" and (.changes | index("field mode: type u32 -> u64") != null) and (.changes | map(startswith("layout changed under pinned GUID")) | any)'
check "check: schemas the release dropped are listed" '[.schemas[] | select(.status == "removed") | .schema_name] == ["edu-state", "pktgen-state"]'
expect "schema guid of a layout written by hand" 0 schema guid --json pktgen-state 1 \
	next_seq:u64:0:8 ring_head:u32:8:4 ring_size:u32:12:4 rx_packets:u64:16:8 mac:u8[6]:24:6
check "schema guid: the golden GUID of pktgen-state v1" '.schema == "3f7174ac-46a9-57ec-b761-b29cdbf15055" and .hex == "3f7174ac46a957ecb761b29cdbf15055"'
expect "schema guid: a size that disagrees with the type" 2 schema guid x 1 a:u16:0:4
expect "schema guid: a non-canonical type" 2 schema guid x 1 a:u8[06]:0:6
expect "schema guid: overlapping fields" 2 schema guid x 1 a:u32:0:4 b:u32:2:4
expect "schema guid: a bad version" 2 schema guid x v1 a:u32:0:4
echo '{"not":"a lock"}' >"$tmp/bad.lock"
expect "schema check: not a lock file" 2 schema check "$v1" "$tmp/bad.lock"
one_error_line "bad lock: one error line" "$tmp/bad.lock" "not a baton schema lock file"

# fake_program SOCKET ANSWER: a control socket at SOCKET that answers every
# client ANSWER (a line of JSON, given to python's bytes as written) and
# closes without reading; $pid is its process, 0 when it started.
mkfifo "$tmp/ready"
fake_program() {
	python3 - "$1" "$2" >"$tmp/ready" <<'PY' &
import ast, socket, sys
answer = ast.literal_eval("b'" + sys.argv[2] + "'") + b"\n"
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(answer)
    c.close()
PY
	pid=$!
	[ "$(timeout 10 head -n 1 "$tmp/ready")" = ready ]
}

# ---- a control socket that refuses: it answers and closes unread ----
# Its answer often comes before baton's request goes, whose send then
# fails with EPIPE: baton must report the answer, every time.
sock=$tmp/refusing.sock
if fake_program "$sock" '{"error":"permission denied"}'; then
	ok "a fake control socket that refuses every client"; else
	not_ok "a fake control socket that refuses every client"; fi
wrong=0
for _ in $(seq 20); do
	"$baton" status --socket "$sock" >"$tmp/out" 2>"$tmp/err"
	st=$?
	if [ "$st" -ne 2 ] || [ "$(cat "$tmp/err")" != "baton: $sock: permission denied" ]; then
		wrong=$((wrong + 1))
		cp "$tmp/err" "$tmp/wrong.err"
	fi
done
if [ "$wrong" -eq 0 ]; then
	ok "status against it reports its answer, not the send's EPIPE (20 of 20)"; else
	cp "$tmp/wrong.err" "$tmp/err"
	not_ok "status against it reports its answer, not the send's EPIPE ($wrong of 20 wrong)"; fi
kill "$pid"
pid=

# ---- a program whose answer carries terminal control sequences ----
# What a program says is printed by baton on the operator's terminal: an
# escape must not reach it, nor a newline split the one error line.
# shown_as NAME ANSWER LINE: a fake program answering ANSWER makes baton
# status exit 2 with LINE (after "baton: SOCKET: ") as its one error line.
shown_as() {
	sock=$tmp/$1.sock
	fake_program "$sock" "$2" || not_ok "the fake program $1 did not start"
	"$baton" status --socket "$sock" >"$tmp/out" 2>"$tmp/err"
	st=$?
	kill "$pid"
	pid=
	[ "$st" -eq 2 ] && [ "$(cat "$tmp/err")" = "baton: $sock: $3" ] ||
		{ od -c "$tmp/err" | sed 's/^/#   /'; false; }
}
if shown_as hostile '{"error":"\\u001b]0;owned\\u0007\\u001b[2Jgone\\nbaton: all is well\\u007f"}' \
	'?]0;owned??[2Jgone?baton: all is well?'; then
	ok "a program's control characters reach the terminal as '?', on one line"; else
	not_ok "a program's control characters reach the terminal as '?', on one line"; fi
# A NUL inside a JSON string (\u0000) is a control character too: the
# string goes on after it.
if shown_as nul '{"error":"before\\u0000\\u001bafter"}' 'before??after'; then
	ok "a NUL in a program's answer is a '?' too, and what follows it is cleaned"; else
	not_ok "a NUL in a program's answer is a '?' too, and what follows it is cleaned"; fi

# C1 controls (U+009B is CSI to a terminal that obeys 8-bit controls) and
# bytes that are not UTF-8 are one '?' each; UTF-8 text prints as it is.
if shown_as c1 '{"error":"\\u009b2J\\u0085caf\\u00e9 \\u2713 \xff\xc3(\xed\xa0\x80\xe2\x9c"}' \
	'?2J?café ✓ ??(?????'; then
	ok "C1 controls and bytes that are not UTF-8 are '?', UTF-8 text is kept"; else
	not_ok "C1 controls and bytes that are not UTF-8 are '?', UTF-8 text is kept"; fi

tap_done
