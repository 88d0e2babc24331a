#!/bin/sh
# `meson install` gives a usable library: install into a scratch DESTDIR,
# build the v2 test program against the installed headers and pkg-config
# file (shared and static), run it, and read its contracts with the
# installed `baton`; `baton demo`'s programs and the manual are there too.
# TAP output.
#
# usage: test_install.sh BUILD_ROOT SOURCE_ROOT
set -u
build=$1 src=$2
cc=${CC:-cc}
cflags=${CFLAGS:-}
cxx=${CXX:-c++}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

step() {
	n=$((n + 1))
	if "$@" >"$tmp/log" 2>&1; then
		echo "ok $n - $*"
	else
		failed=$((failed + 1))
		echo "not ok $n - $*"
		sed 's/^/# /' "$tmp/log" | tail -20
	fi
}

step meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet
pc=$(find "$tmp/root" -name baton.pc | head -n 1)
export PKG_CONFIG_PATH="${pc%/*}" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
# With a sysroot set, pkg-config prefixes it to every path it prints.
libdir=$(pkg-config --variable=libdir baton)
bindir=$(dirname "$(find "$tmp/root" -type f -name baton | head -n 1)")
progs="$src/tests/drivers/main.c $src/tests/drivers/drivers_v2.c"

# shellcheck disable=SC2046,SC2086 # pkg-config output is meant to split
step $cc $cflags -std=gnu11 -Wall -Wextra -Werror -o "$tmp/prog-shared" $progs \
	$(pkg-config --cflags --libs baton)
# shellcheck disable=SC2046,SC2086
step $cc $cflags -std=gnu11 -Wall -Wextra -Werror -o "$tmp/prog-static" $progs \
	$(pkg-config --cflags baton) "$libdir/libbaton.a" \
	$(pkg-config --libs-only-l --static baton | sed 's/-lbaton//')

run_shared() {
	LD_LIBRARY_PATH="$libdir" "$tmp/prog-shared" >"$tmp/shared.out" &&
	grep -q "^nicx 10 3f7174ac-46a9-57ec-b761-b29cdbf15055 converter$" "$tmp/shared.out"
}
run_static() {
	"$tmp/prog-static" >"$tmp/static.out" && cmp "$tmp/shared.out" "$tmp/static.out"
}
installed_baton_reads_it() {
	LD_LIBRARY_PATH="$libdir" "$bindir/baton" contracts "$tmp/prog-shared" |
		grep -q "driver nicx  priority 10"
}
# `baton demo` finds its programs next to itself; the manual is whole.
demo_programs_beside_baton() {
	for p in devsim demo-host-v1 demo-host-v2; do
		[ -x "$bindir/$p" ] || return 1
	done
}
man_pages_installed() {
	for page in man1/baton.1 man3/baton_host_update.3 man3/BATON_DRIVER.3 \
		    man7/baton-host.7; do
		[ -n "$(find "$tmp/root" -path "*/$page" -type f)" ] || return 1
	done
}
# Every public header is installed (the kernel modules' one too), and each
# compiles on its own, as C and as C++.
headers_installed() {
	for h in "$src"/include/baton/*.h "$src"/include/baton/kernel/baton_liveupdate.h; do
		rel=${h#"$src"/include/}
		[ -n "$(find "$tmp/root" -path "*/include/$rel" -type f)" ] || {
			echo "# $rel is not installed"; return 1; }
	done
}
headers_stand_alone() {
	for h in "$src"/include/baton/*.h; do
		rel=${h#"$src"/include/}
		# shellcheck disable=SC2046 # pkg-config output is meant to split
		printf '#include <%s>\n' "$rel" |
			$cc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -x c - \
			$(pkg-config --cflags baton) || { echo "# $rel, as C"; return 1; }
		# shellcheck disable=SC2046
		printf '#include <%s>\n' "$rel" |
			$cxx -std=c++11 -Wall -Wextra -Werror -fsyntax-only -x c++ - \
			$(pkg-config --cflags baton) || { echo "# $rel, as C++"; return 1; }
	done
}
step headers_installed
step headers_stand_alone
step run_shared
step run_static
step installed_baton_reads_it
step demo_programs_beside_baton
step man_pages_installed

echo "1..$n"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
