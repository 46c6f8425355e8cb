# kohlrabi: the two commands of the README, and the steps behind them.
#
#   make demo      install what is missing, build, boot a Linux guest on kohlrabi,
#                  write its screen to demo.png (scripts/demo)
#   make demo2d    install what is missing, build, play a 2D session on the library
#                  alone (no VM), write it to demo.png
#   make check     install what is missing, build normal + ASan/UBSan, run every test;
#                  the last line printed is `N passed, N failed` over both builds,
#                  and the exit status is non-zero when anything failed
#
# Other targets: deps, build, build-asan, test, bench, format, format-check, clean.
# Everything here is plain meson + ninja underneath; the Makefile only sequences it.

BUILD       ?= build
BUILD_ASAN  ?= build-asan
MESON       ?= meson
CLANG_FORMAT ?= clang-format
DEPS_GROUPS ?= base guest
DEMO_PNG    ?= demo.png

# Normal build: optimized with debug info, warnings are errors.
SETUP_ARGS ?= -Dwerror=true --buildtype=debugoptimized

# Sanitizer build: ASan + UBSan, and any UBSan report aborts the test.
ASAN_ARGS ?= -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true \
	--buildtype=debug \
	-Dc_args=-fno-sanitize-recover=all -Dc_link_args=-fno-sanitize-recover=all

# Given to `meson test` (both builds): leaks and UBSan reports fail the test.
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: all deps build build-asan check test demo demo2d bench format format-check clean

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
# Guest page flips on kohlrabi and its peers, then the backend micro-benchmarks.
# Figures go to bench-results/.
bench: deps
	@$(MAKE) --no-print-directory build
	@mkdir -p bench-results
	bench/flips --json bench-results/flips.json
	$(BUILD)/kohlrabi-bench --json bench-results/kohlrabi.json --name kohlrabi -- \
		$(BUILD)/kohlrabi --socket-path {socket}
	$(BUILD)/kohlrabi-bench --json bench-results/qemu-vhost-user-gpu.json \
		--name qemu-vhost-user-gpu -- /usr/lib/qemu/vhost-user-gpu --socket-path {socket}
	$(BUILD)/kohlrabi-bench --callgrind --name kohlrabi -- $(BUILD)/kohlrabi --socket-path {socket}
	$(BUILD)/kohlrabi-bench --callgrind --name qemu-vhost-user-gpu -- \
		/usr/lib/qemu/vhost-user-gpu --socket-path {socket}

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
	rm -rf $(BUILD) $(BUILD_ASAN) $(DEMO_PNG)
