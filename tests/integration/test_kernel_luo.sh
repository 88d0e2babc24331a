#!/bin/sh
# scripts/kernel-luo's choice of mirror, on apt configurations of its own
# (BATON_APT_ETC): the first enabled binary source of a release's own
# suite, from one-line .list files and deb822 .sources files alike, with
# its keyring; nothing found is an error.  And the script names no host:
# the mirror is always the system's.  TAP output; nothing is fetched.
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

tap_done
