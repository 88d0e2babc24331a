#!/bin/sh
# SPDX-License-Identifier: MIT
# Write the seed corpus of fuzz_contracts (tests/fuzz/corpus-contracts/):
# the test drivers (tests/drivers/) compiled as the compiler writes them -
# little-endian (x86-64) and big-endian (powerpc64, to reach the reader's
# byte swapping) - each object whole, with only its baton_contracts
# section (llvm-objcopy), and as the raw section (a flag byte, then the
# records, as fuzz_contracts.c reads an input that is not ELF).
#
# usage: tests/fuzz/gen_contracts_corpus.sh [DIR]   (clang, llvm-objcopy)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$here/../drivers
out=${1:-$here/corpus-contracts}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out" "$tmp/gnu"
# The big-endian build borrows the host's libc headers for the types.
: >"$tmp/gnu/stubs-32.h"

obj() {	# NAME TARGET SOURCE [FLAGS]
	clang --target="$2" -I"$tmp" -I/usr/include/x86_64-linux-gnu \
		-I"$here/../../include" -I"$src" -O1 -g0 -c "$src/$3" -o "$tmp/$1.o"
	cp "$tmp/$1.o" "$out/$1.o"
	llvm-objcopy -j baton_contracts "$tmp/$1.o" "$out/$1-section.o"
	llvm-objcopy -O binary -j baton_contracts "$tmp/$1.o" "$tmp/$1.bin"
	printf "\\$(printf %03o "$4")" | cat - "$tmp/$1.bin" >"$out/$1.recs"
}

obj v1-le x86_64-linux-gnu drivers_v1.c 0
obj v2-le x86_64-linux-gnu drivers_v2.c 0
obj changed-le x86_64-linux-gnu drivers_changed.c 0
obj v1-be powerpc64-linux-gnu drivers_v1.c 1
obj changed-be powerpc64-linux-gnu drivers_changed.c 1
# Edge cases: no records, one record cut short, a section of zero padding.
printf '\000' >"$out/empty.recs"
head -c 100 "$out/v1-le.recs" >"$out/truncated.recs"
head -c 65 /dev/zero >"$out/padding.recs"
