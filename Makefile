# kohlrabi: the two commands of the README, and the steps behind them.
#   make demo    install what is missing, build, boot a Linux guest on kohlrabi,
#                write its screen to demo.png
#   make check   install what is missing, build normal + ASan/UBSan, run every test
# The last line `make check` prints is `N passed, N failed` over both builds.

BUILD      ?= build
BUILD_ASAN ?= build-asan
MESON      ?= meson
SETUP_ARGS ?= --buildtype=debugoptimized -Dwerror=true
ASAN_ARGS  ?= --buildtype=debug -Dwerror=true -Db_sanitize=address,undefined \
	      -Db_lundef=false -Dc_args=-fno-sanitize-recover=all \
	      -Dc_link_args=-fno-sanitize-recover=all
DEMO_PNG   ?= demo.png

export ASAN_OPTIONS  ?= detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

.PHONY: all deps build build-asan check test demo bench format format-check clean

all: build

deps:
	@scripts/install-deps base guest

# meson regenerates by itself once set up; set up only when there is no build.ninja.
$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) $(SETUP_ARGS)

$(BUILD_ASAN)/build.ninja:
	$(MESON) setup $(BUILD_ASAN) $(ASAN_ARGS)

build: $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

build-asan: $(BUILD_ASAN)/build.ninja
	$(MESON) compile -C $(BUILD_ASAN)

# Both suites run even when the first fails; the summary decides the status.
check: deps
	@$(MAKE) --no-print-directory build build-asan
	@rc=0; \
	$(MESON) test -C $(BUILD) --print-errorlogs || rc=1; \
	$(MESON) test -C $(BUILD_ASAN) --print-errorlogs || rc=1; \
	scripts/test-summary $(BUILD)/meson-logs/testlog.json \
		$(BUILD_ASAN)/meson-logs/testlog.json || rc=1; \
	exit $$rc

test: build
	$(MESON) test -C $(BUILD) --print-errorlogs

demo:
	@echo "demo: installing dependencies"
	@scripts/install-deps base guest
	@echo "demo: building"
	@$(MAKE) --no-print-directory build >/dev/null
	@scripts/demo $(DEMO_PNG)

# Benchmarks (not tests): guest page flips on kohlrabi and its peers, then the
# backend micro-benchmarks.  Figures go to bench-results/.
bench: deps build
	@mkdir -p bench-results
	bench/flips --json bench-results/flips.json
	$(BUILD)/kohlrabi-bench --json bench-results/kohlrabi.json --name kohlrabi -- \
		$(BUILD)/kohlrabi --socket-path {socket}
	$(BUILD)/kohlrabi-bench --json bench-results/qemu-vhost-user-gpu.json \
		--name qemu-vhost-user-gpu -- /usr/lib/qemu/vhost-user-gpu --socket-path {socket}
	$(BUILD)/kohlrabi-bench --callgrind --name kohlrabi -- $(BUILD)/kohlrabi --socket-path {socket}
	$(BUILD)/kohlrabi-bench --callgrind --name qemu-vhost-user-gpu -- \
		/usr/lib/qemu/vhost-user-gpu --socket-path {socket}

SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

format:
	clang-format -i $(SOURCES)

format-check:
	clang-format --dry-run --Werror $(SOURCES)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(DEMO_PNG)
