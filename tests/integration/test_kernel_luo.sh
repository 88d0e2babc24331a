#!/bin/sh
# scripts/kernel-luo's choice of mirror, on apt configurations of its own
# (BATON_APT_ETC): the first enabled binary source of a release's own
# suite, from one-line .list files and deb822 .sources files alike, with
# its keyring; nothing found is an error.  And the script names no host:
# the mirror is always the system's.  Then --patches on a stand-in kernel
# tree and its cached build: a key of its own, only what a patch touches
# rebuilt, the cached tree left as it was.  TAP output; nothing is fetched.
#
# usage: test_kernel_luo.sh SOURCE_DIR
set -u
src=$1
script=$src/scripts/kernel-luo

. "$src/tests/integration/tap.sh"

# mirror NAME WANT: the script's answer for the configuration in $tmp/etc.
mirror() {
	got=$(BATON_APT_ETC=$tmp/etc "$script" --print-mirror 2>"$tmp/err")
	if [ "$got" = "$2" ]; then ok "$1"; else
		echo "# got '$got', expected '$2'"
		not_ok "$1"
	fi
}
fresh() {
	rm -rf "${tmp:?}/etc"
	mkdir -p "$tmp/etc/sources.list.d"
}

fresh
cat >"$tmp/etc/sources.list.d/debian.sources" <<'SRC'
Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm-updates bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
SRC
mirror "deb822: the release's own suite, with its keyring" \
	"http://mirror.example/debian /usr/share/keyrings/debian-archive-keyring.gpg"

fresh
cat >"$tmp/etc/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs: http://on.example/debian http://second.example/debian
Suites: trixie
SRC
mirror "deb822: disabled and source-only stanzas are passed over; the first URI" \
	"http://on.example/debian"

fresh
cat >"$tmp/etc/sources.list" <<'SRC'
# deb http://commented.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/etc/apt/keyrings/k.gpg] http://list.example/debian bookworm main
SRC
echo "deb http://other.example/debian bookworm main" >"$tmp/etc/sources.list.d/x.list.disabled"
mirror "one-line list: options read for the keyring, -security passed over" \
	"http://list.example/debian /etc/apt/keyrings/k.gpg"

fresh
echo "deb http://updates.example/debian bookworm-updates main" >"$tmp/etc/sources.list"
if BATON_APT_ETC=$tmp/etc "$script" --print-mirror >/dev/null 2>"$tmp/err"; then
	not_ok "no release suite: an error"
else
	holds "no release suite: an error that says where it looked" \
		'grep -q "no Debian mirror in $tmp/etc/sources.list" "$tmp/err"'
fi

# The mirror is never written into the script.
holds "the script names no host" \
	'! grep -Eiq "(debian\.org|https?://[a-z0-9])" "$script"'

# --patches: a stand-in kernel tree and its cached build (no network, no
# compiler): a.o is made from a.c and the header inc.h, b.o from b.c, the
# dependency written into the build tree with the tree's absolute path, as
# kbuild's .cmd files are.
cache=$tmp/cache
frag=$tmp/frag.config
echo "CONFIG_TEST=y" >"$frag"
recipe=$(sed -n 's/^RECIPE=//p' "$script")
base=$cache/9.9-1-$( { echo "recipe $recipe"; cat "$frag"; } | sha256sum | cut -c1-12)
ksrc=$cache/src/linux-source-9.9_9.9-1/linux-source-9.9
mkdir -p "$ksrc/include/uapi/linux" "$base/build"
echo "/* uapi */" >"$ksrc/include/uapi/linux/liveupdate.h"
echo "int a = 1;" >"$ksrc/inc.h"
echo '#include "inc.h"' >"$ksrc/a.c"
echo "int b;" >"$ksrc/b.c"
cat >"$ksrc/Makefile" <<'MK'
B := $(abspath $(O))
bzImage modules: $(B)/arch/x86/boot/bzImage
-include $(B)/a.d
$(B)/%.o: $(CURDIR)/%.c
	@echo $* >>$(B)/compiled
	@cat $< $(CURDIR)/inc.h >$@
	@echo '$@: $(CURDIR)/inc.h' >$(B)/$*.d
$(B)/arch/x86/boot/bzImage: $(B)/a.o $(B)/b.o
	@mkdir -p $(@D)
	@cat $^ >$@
kernelrelease:
	@echo 9.9.0
MK
touch -d "2 hours ago" "$ksrc"/*.c "$ksrc"/*.h "$ksrc/Makefile"
make -s -C "$ksrc" O="$base/build" bzImage >/dev/null
echo "CONFIG_TEST=y" >"$base/build/.config"
echo "$ksrc" >"$base/source"
echo linux-source-9.9 >"$base/package"
echo 9.9-1 >"$base/version"
echo "1 s" >"$base/build-time"
touch "$base/ok"
find "$base/build" -exec touch -h -d "1 hour ago" {} +
series=$tmp/series
mkdir -p "$series"
printf 'cover\n' >"$series/0000-cover-letter.patch"
cat >"$series/0001-inc-two.patch" <<'PATCH'
--- a/inc.h
+++ b/inc.h
@@ -1 +1 @@
-int a = 1;
+int a = 2;
PATCH
luo() { BATON_KERNEL_CACHE=$cache "$script" --fragment "$frag" "$@"; }
out=$(luo --patches "$series" 2>"$tmp/err")
rc=$?
if [ $rc -eq 0 ] && [ -n "$out" ] && [ "$out" != "$base" ] && [ -f "$out/ok" ]; then
	ok "--patches: a build of its own, from the cached one"
else
	cat "$tmp/err"
	not_ok "--patches: a build of its own, from the cached one (exit $rc)"
fi
holds "--patches: make rebuilt only what the patch touches (a.o, not b.o)" \
	'[ "$(tail -n +3 "$out/build/compiled" | tr "\n" " ")" = "a " ]'
holds "--patches: the patched kernel has the change; the cached tree and build do not" \
	'grep -q "int a = 2" "$out/bzImage" && grep -q "int a = 1" "$base/build/arch/x86/boot/bzImage" &&
	 grep -q "int a = 1" "$ksrc/inc.h" && ! grep -rq "$ksrc" "$out/build"'
holds "--patches: a second run finds it in the cache" \
	'[ "$(luo --patches "$series" 2>"$tmp/err")" = "$out" ] && grep -q "cached" "$tmp/err"'
printf 'another cover\n' >"$series/0000-cover-letter.patch"
holds "--patches: the cover letter is not part of the key" \
	'[ "$(luo --patches "$series" 2>/dev/null)" = "$out" ]'
printf -- '--- a/inc.h\n+++ b/inc.h\n@@ -1 +1 @@\n-int a = 7;\n+int a = 8;\n' \
	>"$series/0002-inc-eight.patch"
if luo --patches "$series" >/dev/null 2>"$tmp/err"; then
	not_ok "--patches: a patch that does not apply is an error"
else
	holds "--patches: a patch that does not apply is an error that names it" \
		'grep -q "0002-inc-eight.patch does not apply" "$tmp/err"'
fi

tap_done
