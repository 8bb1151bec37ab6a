# Thin wrapper over CMake/CTest: the builds CI runs, in one place.
#
#   make / make build   Release build in build/
#   make demo           build the library, the demo and the tool only, then
#                       run build/examples/demo (pub/sub) and the quick
#                       benchmark summary (shoal bench --quick)
#   make test           everything CI checks (see "test" below); non-zero on
#                       the first failure ("make -k test" runs every stage)
#   make format         clang-format -i every C source and header
#   make bench          Release build, then run build/bench/shoal-bench
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make clean
#
# Variables: CC (default gcc), CLANG_FORMAT, JOBS (default 2),
# CTEST_ARGS (extra ctest arguments, e.g. CTEST_ARGS="-L unit"), PREFIX.
# build/ is shared by every target; switching between "make test"
# (RelWithDebInfo) and the others (Release) reconfigures and rebuilds it.

# make's built-in default CC is cc; we want gcc unless told otherwise.
ifeq ($(origin CC),default)
CC := gcc
endif
CLANG_FORMAT ?= clang-format
CMAKE ?= cmake
CTEST ?= ctest
JOBS ?= 2
CTEST_ARGS ?=
PREFIX ?= /usr/local
# The scripts and a first cmake configure read these from the environment.
export CC CLANG_FORMAT

# Release for users: -O2 with debug info, asserts off, warnings fatal.
RELEASE_CONFIG := -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_C_FLAGS_RELEASE="-O2 -g -DNDEBUG" \
	-DSHOAL_WERROR=ON -DSHOAL_SANITIZE=
# The test builds keep assert() on (CMake's RelWithDebInfo adds -DNDEBUG):
# an assert is a check the tests should exercise.
TEST_FLAGS := -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g"

# Every C file we own; directories that do not exist yet are skipped.
FORMAT_DIRS = $(wildcard include src test bench examples tools fuzz python)
FORMAT_FILES = $(sort $(shell find $(FORMAT_DIRS) -type f \
	\( -name '*.c' -o -name '*.h' \) 2>/dev/null))

# Stages print a header and must run one after the other.
.NOTPARALLEL:
.PHONY: all build demo test test-build test-asan test-tsan test-format \
	test-clang format bench install clean prereqs prereqs-build prereqs-format

all: build

prereqs-build:
	@scripts/prereqs.sh build

prereqs-format:
	@scripts/prereqs.sh format

prereqs:
	@scripts/prereqs.sh test

build: prereqs-build
	$(CMAKE) -S . -B build $(RELEASE_CONFIG)
	$(CMAKE) --build build -j$(JOBS)

# The demo builds only what it runs: the library, build/examples/demo and
# build/tools/shoal (for bench --quick), not the tests, fuzz targets and
# benchmarks ("make" builds those). The configure and build output goes to
# build/demo-build.log, so what is on the screen is the demo's; a failed
# build shows the log's end.
DEMO_LOG := build/demo-build.log
demo: prereqs-build
	@printf '==== shoal: building the library, build/examples/demo and build/tools/shoal (log: %s) ====\n' '$(DEMO_LOG)'
	@mkdir -p build
	@start=$$(date +%s); \
	if { $(CMAKE) -S . -B build $(RELEASE_CONFIG) && \
		$(CMAKE) --build build -j$(JOBS) --target example-demo shoal-tool; \
		} >'$(DEMO_LOG)' 2>&1; then \
		echo "built in $$(($$(date +%s) - start)) s"; \
	else \
		tail -n 30 '$(DEMO_LOG)'; \
		echo "make demo: the build failed; the whole log is $(DEMO_LOG)" >&2; \
		exit 1; \
	fi
	@printf '\n==== shoal: running build/examples/demo ====\n'
	./build/examples/demo
	@printf '\n==== shoal: running build/tools/shoal bench --quick ====\n'
	./build/tools/shoal bench --quick

test: prereqs test-build test-asan test-tsan test-clang test-format
	@printf '\n==== shoal: all test stages passed ====\n'

# 1. The plain build, warnings fatal.
test-build: prereqs
	@printf '\n==== shoal test [1/5]: build/ (RelWithDebInfo, -Werror): configure, build, ctest ====\n'
	$(CMAKE) -S . -B build $(TEST_FLAGS) -DSHOAL_WERROR=ON -DSHOAL_SANITIZE=
	$(CMAKE) --build build -j$(JOBS)
	cd build && $(CTEST) --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# 2 and 3. Sanitizer builds. Not -Werror: warnings are already gated by
# stage 1, and gcc warns differently with instrumentation on (e.g. -Wtsan
# about atomic_thread_fence, -Wmaybe-uninitialized false positives). scripts/san-run.sh turns ASLR off for ctest
# only on kernels whose mmap randomisation breaks the gcc 12 runtimes; see it.
test-asan: prereqs
	@printf '\n==== shoal test [2/5]: build-asan/ (address+undefined): configure, build, ctest ====\n'
	$(CMAKE) -S . -B build-asan $(TEST_FLAGS) -DSHOAL_SANITIZE=address
	$(CMAKE) --build build-asan -j$(JOBS)
	cd build-asan && ../scripts/san-run.sh address \
		$(CTEST) --output-on-failure -j$(JOBS) $(CTEST_ARGS)

test-tsan: prereqs
	@printf '\n==== shoal test [3/5]: build-tsan/ (thread): configure, build, ctest ====\n'
	$(CMAKE) -S . -B build-tsan $(TEST_FLAGS) -DSHOAL_SANITIZE=thread
	$(CMAKE) --build build-tsan -j$(JOBS)
	cd build-tsan && ../scripts/san-run.sh thread \
		$(CTEST) --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# 4. clang, warnings fatal: a second compiler's warnings, and the libFuzzer
# targets, which CTest runs for a bounded time (15 s each, JOBS at a time:
# CI must finish within 20 minutes) besides replaying their committed
# corpora. The rest of the suite already ran in stage 1, so only the fuzz
# label runs here.
test-clang: prereqs
	@printf '\n==== shoal test [4/5]: build-clang/ (clang, -Werror, libFuzzer): configure, build, ctest -L fuzz ====\n'
	CC=clang $(CMAKE) -S . -B build-clang $(TEST_FLAGS) -DSHOAL_WERROR=ON -DSHOAL_SANITIZE=
	$(CMAKE) --build build-clang -j$(JOBS)
	cd build-clang && $(CTEST) --output-on-failure -j$(JOBS) -L fuzz $(CTEST_ARGS)

# 5. Formatting. The output depends on the clang-format version: CI uses
# Debian 12's, 14.
test-format: prereqs-format
	@printf '\n==== shoal test [5/5]: %s --dry-run -Werror ====\n' \
		"$$($(CLANG_FORMAT) --version)"
	@if [ -z "$(FORMAT_FILES)" ]; then \
		echo "no C files to check"; \
	elif $(CLANG_FORMAT) --dry-run -Werror --ferror-limit=1 $(FORMAT_FILES); then \
		echo "$(words $(FORMAT_FILES)) files formatted correctly"; \
	else \
		echo "The first difference in each file is shown above." \
			"Run \"make format\" and review the diff." >&2; \
		exit 1; \
	fi

format: prereqs-format
	@if [ -n "$(FORMAT_FILES)" ]; then \
		$(CLANG_FORMAT) -i $(FORMAT_FILES); \
	fi

bench: build
	@if [ -x build/bench/shoal-bench ]; then \
		printf '\n==== shoal: running build/bench/shoal-bench ====\n'; \
		./build/bench/shoal-bench; \
	else \
		echo "no build/bench/shoal-bench (bench/ is not built yet)"; \
	fi

install: prereqs-build
	$(CMAKE) -S . -B build $(RELEASE_CONFIG) -DCMAKE_INSTALL_PREFIX="$(PREFIX)"
	$(CMAKE) --build build -j$(JOBS)
	DESTDIR="$(DESTDIR)" $(CMAKE) --install build

clean:
	rm -rf build build-asan build-tsan build-clang
