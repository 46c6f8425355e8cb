# kohlrabi: the two commands of the README, and the steps behind them.
#
#   make demo      install what is missing, build, boot a Linux guest on kohlrabi,
#                  write its screen to demo.png (scripts/demo)
#   make run       the same guest, served until Ctrl-C, its screen rewritten
#                  to run.png every second (scripts/run)
#   make console   the same with kohlrabi's VNC console, the guest's keyboard and
#                  tablet, and noVNC at http://127.0.0.1:6080/vnc.html
#   make demo2d    install what is missing, build, play a 2D session on the library
#                  alone (no VM), write it to demo.png
#   make check     install what is missing, build normal + ASan/UBSan, run every test;
#                  the last line printed is `N passed, N failed` over both builds,
#                  and the exit status is non-zero when anything failed
#
#   make fuzz      build the libFuzzer targets with clang and run each for
#                  FUZZ_TIME seconds (default 60), growing fuzz/corpus
#   make fuzz-coverage  line/branch coverage of the saved corpora (llvm-cov)
#   make soak      SOAK_TIME seconds (default 3600) of page flips against the
#                  daemon, its RSS sampled (kohlrabi-soak)
#
# Other targets: deps, build, build-asan, build-fuzz, test, bench, format,
# format-check, clean.
# Everything here is plain meson + ninja underneath; the Makefile only sequences it.

BUILD       ?= build
BUILD_ASAN  ?= build-asan
MESON       ?= meson
CLANG_FORMAT ?= clang-format
DEPS_GROUPS ?= base guest libvirt pkg console trixie
DEMO_PNG    ?= demo.png

# Normal build: optimized with debug info, warnings are errors.
SETUP_ARGS ?= -Dwerror=true --buildtype=debugoptimized

# Sanitizer build: ASan + UBSan, and any UBSan report aborts the test.
ASAN_ARGS ?= -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
	--buildtype=debug \
	-Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all

# Fuzzing build: clang, libFuzzer coverage in every object, ASan + UBSan that
# abort on the first report, uninitialised locals filled with 0xaa (the
# control-queue target looks for that pattern in responses).
BUILD_FUZZ ?= build-fuzz
FUZZ_CC    ?= clang
FUZZ_ARGS  ?= -Dfuzzing=true -Dtests=false -Dtools=false -Dvirgl=disabled \
	-Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true --buildtype=debugoptimized
# Read by meson when it sets the build up (change them: `rm -rf build-fuzz`).
FUZZ_CFLAGS ?= -fsanitize=fuzzer-no-link -fno-sanitize-recover=all -ftrivial-auto-var-init=pattern
FUZZ_LDFLAGS ?= -fno-sanitize-recover=all
# Seconds each target runs under `make fuzz`, and the targets.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= ctrl cursor vring vhost daemon

# Given to `meson test` (both builds): leaks and UBSan reports fail the test.
# No quarantine: freed memory is handed out again at once.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=0 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps build build-asan build-fuzz build-cov fuzz fuzz-coverage soak check test demo demo2d run console bench format format-check clean

all: build

deps:
	@scripts/install-deps $(DEPS_GROUPS)

# --- configuring and building -------------------------------------------------
#
# $(configure) sets up $(KR_DIR) with $(KR_ARGS) (set per target below):
#   no meson-private/coredata.dat       -> `meson setup` (first time)
#   coredata but no build.ninja, or     -> `meson setup --reconfigure`, and `--wipe` if
#   KR_ARGS differ from the last setup's   even that fails (e.g. a dir set up by
#   (edited here)                          another version of meson)
#   otherwise                           -> nothing: once set up, `meson compile`
#                                          regenerates by itself when a meson.build or
#                                          meson_options.txt changes.
# The KR_ARGS of the last setup are kept in $(KR_DIR)/kohlrabi-setup-args.
define configure
	@set -e; \
	stamp=$(KR_DIR)/kohlrabi-setup-args; \
	if [ ! -f $(KR_DIR)/meson-private/coredata.dat ]; then \
		echo "$(MESON) setup $(KR_DIR) $(KR_ARGS)"; \
		$(MESON) setup $(KR_DIR) $(KR_ARGS); \
	elif [ ! -f $(KR_DIR)/build.ninja ] || \
	     [ "$$(cat $$stamp 2>/dev/null)" != "$(strip $(KR_ARGS))" ]; then \
		echo "$(MESON) setup --reconfigure $(KR_DIR) $(KR_ARGS)"; \
		$(MESON) setup --reconfigure $(KR_DIR) $(KR_ARGS) || { \
			echo "$(MESON) setup --wipe $(KR_DIR) $(KR_ARGS)"; \
			$(MESON) setup --wipe $(KR_DIR) $(KR_ARGS); \
		}; \
	fi; \
	echo "$(strip $(KR_ARGS))" >$$stamp
endef

build: KR_DIR = $(BUILD)
build: KR_ARGS = $(SETUP_ARGS)
build:
	$(configure)
	$(MESON) compile -C $(BUILD)

build-asan: KR_DIR = $(BUILD_ASAN)
build-asan: KR_ARGS = $(ASAN_ARGS)
build-asan:
	$(configure)
	$(MESON) compile -C $(BUILD_ASAN)

build-fuzz: KR_DIR = $(BUILD_FUZZ)
build-fuzz: KR_ARGS = $(FUZZ_ARGS)
build-fuzz: export CC = $(FUZZ_CC)
build-fuzz: export CFLAGS = $(FUZZ_CFLAGS)
build-fuzz: export LDFLAGS = $(FUZZ_LDFLAGS)
build-fuzz:
	$(configure)
	$(MESON) compile -C $(BUILD_FUZZ)

# --- fuzzing --------------------------------------------------------------------
#
# Each target runs FUZZ_TIME seconds (one after the other) on a working corpus
# in $(BUILD_FUZZ)/corpus/<target>, seeded with the saved one in
# fuzz/corpus/<target>; what it learns is merged (minimised) back into the
# saved corpus, which `make check` replays.  A finding stops the run and
# leaves crash-* / leak-* files in $(BUILD_FUZZ)/findings.
fuzz: export ASAN_OPTIONS = quarantine_size_mb=0
fuzz: deps
	@$(MAKE) --no-print-directory build-fuzz
	@set -e; mkdir -p $(BUILD_FUZZ)/findings; \
	for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD_FUZZ)/corpus/$$t fuzz/corpus/$$t; \
		echo "fuzz: $$t for $(FUZZ_TIME) s"; \
		$(BUILD_FUZZ)/fuzz/fuzz_$$t $(BUILD_FUZZ)/corpus/$$t fuzz/corpus/$$t \
			-max_total_time=$(FUZZ_TIME) -max_len=8192 -print_final_stats=1 \
			-artifact_prefix=$(BUILD_FUZZ)/findings/$$t- \
			2>$(BUILD_FUZZ)/fuzz-$$t.log || \
			{ tail -40 $(BUILD_FUZZ)/fuzz-$$t.log; exit 1; }; \
		grep -E "stat::number_of_executed_units|cov: " $(BUILD_FUZZ)/fuzz-$$t.log | tail -2; \
		$(BUILD_FUZZ)/fuzz/fuzz_$$t -merge=1 -max_len=8192 fuzz/corpus/$$t \
			$(BUILD_FUZZ)/corpus/$$t 2>>$(BUILD_FUZZ)/fuzz-$$t.log; \
	done

# Line and branch coverage of the saved corpora (clang source-based coverage,
# no sanitizers): each target's corpus replayed, then llvm-cov's report over
# the files that target is about.
BUILD_COV  ?= build-cov
COV_FLAGS  ?= -fprofile-instr-generate -fcoverage-mapping
COV_FILES_ctrl   = src/core/cmd.c src/core/gpu.c src/core/resource.c src/core/guestmem.c \
	src/renderer/gfxstream.c \
	src/renderer/r2d.c
COV_FILES_cursor = src/core/cmd.c
COV_FILES_vring  = src/vhost/vring.c src/vhost/vu_mem.c
COV_FILES_vhost  = src/vhost/vu.c src/vhost/vu_mem.c src/vhost/vring.c
COV_FILES_daemon = src/vhost/vu.c src/vhost/vring.c src/core/cmd.c src/core/gpu.c \
	src/display/vugpu.c src/cli/daemon.c

build-cov: KR_DIR = $(BUILD_COV)
build-cov: KR_ARGS = -Dtests=false -Dtools=false -Dvirgl=disabled -Dwerror=true \
	--buildtype=debug
build-cov: export CC = $(FUZZ_CC)
build-cov: export CFLAGS = $(COV_FLAGS)
build-cov: export LDFLAGS = $(COV_FLAGS)
build-cov:
	$(configure)
	$(MESON) compile -C $(BUILD_COV)

# One target's coverage ($(1)): replay, merge, report.
define cov_one
rm -f $(BUILD_COV)/$(1)-*.profraw; \
LLVM_PROFILE_FILE=$(BUILD_COV)/$(1)-%p.profraw \
	$(BUILD_COV)/fuzz/replay_$(1) fuzz/corpus/$(1) >/dev/null; \
llvm-profdata merge -sparse -o $(BUILD_COV)/$(1).profdata $(BUILD_COV)/$(1)-*.profraw; \
echo "fuzz-coverage: $(1) ($$(ls fuzz/corpus/$(1) | wc -l) inputs)"; \
(cd $(BUILD_COV) && llvm-cov report fuzz/replay_$(1) -instr-profile=$(1).profdata) | \
	grep -E '$(subst $(eval) ,|,$(strip $(COV_FILES_$(1))))' | \
	awk '{ printf "  %-26s lines %7s  branches %7s\n", $$1, $$(NF-3), $$NF }'
endef

fuzz-coverage: deps
	@$(MAKE) --no-print-directory build-cov
	@set -e; $(foreach t,$(FUZZ_TARGETS),$(call cov_one,$(t));)

# --- testing --------------------------------------------------------------------
#
# deps, then both builds (sub-makes keep that order under -j), then both test runs:
# the second runs even when the first fails. Old test logs are removed first so
# that a run that never started cannot be summed from a previous one.
# scripts/test-summary prints the last line and decides, with the runs, the status.
check: deps
	@$(MAKE) --no-print-directory build build-asan
	@rc=0; \
	rm -f $(BUILD)/meson-logs/testlog.json $(BUILD_ASAN)/meson-logs/testlog.json; \
	echo "$(MESON) test -C $(BUILD) --print-errorlogs"; \
	$(SAN_ENV) $(MESON) test -C $(BUILD) --print-errorlogs || rc=1; \
	echo "$(MESON) test -C $(BUILD_ASAN) --print-errorlogs"; \
	$(SAN_ENV) $(MESON) test -C $(BUILD_ASAN) --print-errorlogs || rc=1; \
	scripts/test-summary $(BUILD)/meson-logs/testlog.json \
		$(BUILD_ASAN)/meson-logs/testlog.json || rc=1; \
	exit $$rc

# The normal build's tests only, without installing anything.
test: build
	$(SAN_ENV) $(MESON) test -C $(BUILD) --print-errorlogs

# --- demos ----------------------------------------------------------------------

# A Linux guest under QEMU on the kohlrabi daemon; scripts/demo prints its steps,
# ending with "demo: screenshot written to <absolute path>".
demo:
	@echo "demo: installing dependencies"
	@scripts/install-deps $(DEPS_GROUPS)
	@echo "demo: building"
	@$(MAKE) --no-print-directory build >/dev/null
	@scripts/demo $(DEMO_PNG)

# kohlrabi serving a guest until Ctrl-C, its screen refreshed in $(RUN_PNG)
# every second (scripts/run prints the kohlrabi and QEMU command lines).
RUN_PNG ?= run.png
run:
	@echo "run: installing dependencies"
	@scripts/install-deps base guest
	@echo "run: building"
	@$(MAKE) --no-print-directory build >/dev/null
	@scripts/run $(RUN_PNG)

# make run with kohlrabi's own console: VNC, the guest's keyboard and tablet,
# and noVNC in a browser (scripts/run --console prints the URL).
console:
	@echo "console: installing dependencies"
	@scripts/install-deps base guest console
	@echo "console: building"
	@$(MAKE) --no-print-directory build >/dev/null
	@scripts/run --console $(RUN_PNG)

# The library alone: a 2D session played by build/tools/kohlrabi-demo2d.
demo2d:
	@echo "demo: installing dependencies"
	@scripts/install-deps base
	@echo "demo: building"
	@$(MAKE) --no-print-directory build >/dev/null
	@echo "demo: running a 2D session"
	@$(BUILD)/tools/kohlrabi-demo2d $(DEMO_PNG)
	@echo "demo: screenshot written to $(abspath $(DEMO_PNG))"

# --- benchmarks (not tests) -------------------------------------------------------
# Guest page flips on kohlrabi and its peers, Vulkan (Venus) on kohlrabi and on
# QEMU's own device, then the backend micro-benchmarks.
# Figures go to bench-results/.
bench: deps
	@$(MAKE) --no-print-directory build
	@mkdir -p bench-results
	bench/flips --json bench-results/flips.json
	bench/venus --json bench-results/venus.json
	$(BUILD)/tools/kohlrabi-bench --json bench-results/kohlrabi.json --name kohlrabi -- \
		$(BUILD)/kohlrabi --socket-path {socket}
	$(BUILD)/tools/kohlrabi-bench --json bench-results/qemu-vhost-user-gpu.json \
		--name qemu-vhost-user-gpu -- /usr/lib/qemu/vhost-user-gpu --socket-path {socket}
	$(BUILD)/tools/kohlrabi-bench --callgrind --name kohlrabi -- $(BUILD)/kohlrabi --socket-path {socket}
	$(BUILD)/tools/kohlrabi-bench --callgrind --name qemu-vhost-user-gpu -- \
		/usr/lib/qemu/vhost-user-gpu --socket-path {socket}

# The soak: an hour of guest-style page flips, the daemon's RSS and fds
# sampled every second; the slope goes to bench-results/soak.json.
SOAK_TIME ?= 3600
soak: deps
	@$(MAKE) --no-print-directory build
	@mkdir -p bench-results
	$(BUILD)/tools/kohlrabi-soak --seconds $(SOAK_TIME) --csv bench-results/soak.csv \
		--json bench-results/soak.json -- $(BUILD)/kohlrabi --socket-path {socket}

# --- formatting and cleaning -------------------------------------------------------

# The tracked C sources and headers (.clang-format at the top says how).
SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	$(if $(SOURCES),,$(error no tracked *.c *.h: not a git checkout?))
	@echo "$(CLANG_FORMAT) -i <$(words $(SOURCES)) tracked *.c *.h>"
	@$(CLANG_FORMAT) -i $(SOURCES)

format-check:
	$(if $(SOURCES),,$(error no tracked *.c *.h: not a git checkout?))
	@echo "$(CLANG_FORMAT) --dry-run --Werror <$(words $(SOURCES)) tracked *.c *.h>"
	@$(CLANG_FORMAT) --dry-run --Werror $(SOURCES)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_COV) $(DEMO_PNG) $(RUN_PNG)
