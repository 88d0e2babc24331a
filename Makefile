# Baton: the two commands the README opens with are `make demo` and
# `make check`.  Everything else is meson; this file only sequences builds.

MESON_ARGS ?=
# CI builds treat warnings as errors; a newer compiler on a user's machine
# should not break their build over a new warning.
WERROR := $(if $(CI),-Dwerror=true,)
# The fuzz targets (tests/fuzz/fuzz_NAME) and their seed corpora, as
# NAME:CORPUS.  make check runs each for FUZZ_SECONDS, FUZZ_JOBS at a time;
# make fuzz, the longer campaign, for FUZZ_LONG_SECONDS.
FUZZ_TARGETS := image:corpus devsim:corpus-devsim control:corpus-control \
	contracts:corpus-contracts kernel:corpus-kernel vfio_user:corpus-vfio-user \
	transfer:corpus-transfer handover:corpus-handover \
	kvprotocol:corpus-kvprotocol kvregion:corpus-kvregion
FUZZ_SECONDS ?= 12
FUZZ_LONG_SECONDS ?= 180
FUZZ_JOBS ?= 2

BUILD := build
BUILD_CLANG := build-clang
BUILD_ASAN := build-asan
BUILD_FUZZ := build-fuzz

.PHONY: all deps demo demo-plan check check-gcc check-clang check-asan check-valgrind check-fuzz \
	fuzz fuzz-build bench install clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/deps

$(BUILD)/build.ninja: | deps
	CC=gcc CXX=g++ meson setup $(BUILD) $(WERROR) $(MESON_ARGS)

$(BUILD_CLANG)/build.ninja: | deps
	CC=clang CXX=clang++ meson setup $(BUILD_CLANG) $(WERROR) $(MESON_ARGS)

$(BUILD_ASAN)/build.ninja: | deps
	CC=gcc CXX=g++ meson setup $(BUILD_ASAN) $(WERROR) $(MESON_ARGS) \
		-Db_sanitize=address,undefined -Db_lundef=false

$(BUILD_FUZZ)/build.ninja: | deps
	CC=clang CXX=clang++ meson setup $(BUILD_FUZZ) $(MESON_ARGS) -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link

# The live update of a program driving devices (docs/demo.md).
demo: all
	$(BUILD)/tools/baton demo

# The planner alone, on images and binaries at rest.
demo-plan: all
	@scripts/demo-plan $(BUILD)

# scripts/deps installs clang, so the clang build and the fuzzer always run.
check: check-gcc check-clang check-asan check-valgrind check-fuzz
	@echo "make check: all passed"

check-gcc: $(BUILD)/build.ninja
	meson test -C $(BUILD) --print-errorlogs --no-suite slow

check-clang: $(BUILD_CLANG)/build.ninja
	meson test -C $(BUILD_CLANG) --print-errorlogs --no-suite slow

# UBSan aborts on the first report, so "passed" means clean.
check-asan: $(BUILD_ASAN)/build.ninja
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(BUILD_ASAN) --print-errorlogs --no-suite slow

# The unit tests again under valgrind: leaks and uninitialised reads that
# the sanitizers do not see; then an update, each mode, of a program run
# under it.
check-valgrind: $(BUILD)/build.ninja
	meson test -C $(BUILD) --suite unit --print-errorlogs \
		--wrapper 'valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect --suppressions=$(CURDIR)/tests/unit/libkmod.supp'
	ninja -C $(BUILD) tests/integration/host-prog-v1 tests/integration/host-prog-v2
	tests/integration/test_valgrind_update.sh $(BUILD)/tests/integration $(CURDIR)/tests/unit/libkmod.supp

# Each target for $(1) seconds, $(FUZZ_JOBS) at a time (scripts/fuzz): a
# crash fails, its reproducer left in the current directory.
fuzz_run = printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -n 1 sh -c \
	'scripts/fuzz $(BUILD_FUZZ)/tests/fuzz/fuzz_$${0%%:*} tests/fuzz/$${0\#*:} $(1)'

fuzz-build: $(BUILD_FUZZ)/build.ninja
	ninja -C $(BUILD_FUZZ) $(foreach t,$(FUZZ_TARGETS),tests/fuzz/fuzz_$(firstword $(subst :, ,$(t))))

check-fuzz: fuzz-build
	$(call fuzz_run,$(FUZZ_SECONDS))

# The longer campaign: each target's figures (executions, coverage, crashes)
# at the end, the lines docs/fuzzing.md quotes.
fuzz: fuzz-build
	@{ $(call fuzz_run,$(FUZZ_LONG_SECONDS)); echo "status $$?"; } | tee $(BUILD_FUZZ)/fuzz.log
	@echo "== make fuzz: $(FUZZ_LONG_SECONDS) s per target"; grep '^fuzz: ' $(BUILD_FUZZ)/fuzz.log
	@grep -qx 'status 0' $(BUILD_FUZZ)/fuzz.log

# Deliberate bugs the tests must catch (scripts/mutants.toml): each is put
# in a copy of the tree built with ASan and UBSan, and a test named for it
# must fail.  Two copies, two mutants at a time; the work tree is not
# touched.
.PHONY: check-mutants
check-mutants: | deps
	scripts/mutants

# The kernel path end to end in a QEMU guest running Debian's kernel: save,
# preflight, kexec, bind by schema; then memfds carried in a LUO session
# across a kexec of a kernel scripts/kernel-luo builds (tests/vm/run), and
# the same kernel with kernel/patches binding by schema itself.  As root it
# installs what it needs (scripts/deps-vm, scripts/kernel-luo); the first
# run builds the LUO kernel (~25 min on 2 cores) and its patched copy (~7
# min more), ~4 min after.
.PHONY: check-vm
check-vm: all
	tests/vm/run $(BUILD)

# What does not fit make check's ten minutes, for CI (.ci/run): the tests
# of suite "slow" - a 256 MiB cache filled and updated live under load
# (tests/integration/test_kvcache_256m.sh) - under ASan and UBSan.
.PHONY: check-slow
check-slow: $(BUILD_ASAN)/build.ninja
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C $(BUILD_ASAN) --suite slow --print-errorlogs

# One run of every benchmark (docs/performance.md): each writes a CSV under
# $(BUILD)/bench/, and the plots go next to them (gnuplot).
bench: all
	ninja -C $(BUILD) bench/bench_plan bench/bench_blackout bench/bench_image bench/kvload \
		bench/bench_epoll_exec
	rm -f $(BUILD)/bench/*.csv
	$(BUILD)/bench/bench_plan --csv $(BUILD)/bench/plan.csv
	$(BUILD)/bench/bench_image --csv $(BUILD)/bench/image.csv
	$(BUILD)/bench/bench_blackout --csv $(BUILD)/bench/blackout.csv
	$(BUILD)/bench/bench_epoll_exec
	bench/bench_devices.sh $(BUILD) $(BUILD)/bench
	DEVICES="1 256" RUNS=11 ROUNDS=1 bench/bench_edu.sh --csv $(BUILD)/bench/edu.csv $(BUILD)
	bench/bench_loss.sh $(BUILD) $(BUILD)/bench
	bench/bench_kvcache.sh $(BUILD) $(BUILD)/bench
	bench/plot.sh $(BUILD)/bench

install: all
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_CLANG) $(BUILD_ASAN) $(BUILD_FUZZ)
