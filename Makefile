# natsd — one GNU Makefile.
#
#   make                              release build: build/release/natsd
#   make SANITIZER=address,undefined  ASan+UBSan build in build/asan/
#   make SANITIZER=thread             TSan build in build/tsan/
#   make run                          install what is missing, build, start a server
#   make test                         install what is missing, build, run every test
#
# Other targets: unit, system, fuzz, fuzz-smoke, format, check-format, tidy, cppcheck,
# deps, clean, compile_commands.json.

SANITIZER ?=
ifeq ($(SANITIZER),)
  VARIANT := release
  OPT     := -O2
else ifeq ($(SANITIZER),address,undefined)
  VARIANT := asan
  OPT     := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(SANITIZER),undefined,address)
  VARIANT := asan
  OPT     := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(SANITIZER),address)
  VARIANT := asan
  OPT     := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined
else ifeq ($(SANITIZER),thread)
  VARIANT := tsan
  OPT     := -O1 -fsanitize=thread
else
  $(error SANITIZER must be empty, address,undefined or thread)
endif

SHELL   := /bin/bash
CC      ?= cc
BUILD   := build/$(VARIANT)
PYTHON  := /usr/bin/python3

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
           -Wformat=2 -Wimplicit-fallthrough -Wno-format-nonliteral
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) -fno-omit-frame-pointer -pthread $(WARN) \
           $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) -pthread $(EXTRA_LDFLAGS)
LDLIBS  := -lssl -lcrypto -lcjson -lmicrohttpd -lcrypt -lm

SRCS      := $(wildcard src/*.c)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
LIB_OBJS  := $(LIB_SRCS:src/%.c=$(BUILD)/obj/%.o)
MAIN_OBJ  := $(BUILD)/obj/main.o
LIB       := $(BUILD)/libnatsd.a
BIN       := $(BUILD)/natsd

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
STUB_SRCS := $(wildcard tests/unit/stubs/*.c)
STUB_OBJS := $(STUB_SRCS:tests/unit/stubs/%.c=$(BUILD)/stubs/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

# Threaded C tests without Criterion (which cannot start under TSan): built
# against the TSan library and run by `make tsan-tests`.
TSAN_SRCS := $(wildcard tests/tsan/*.c)
TSAN_BINS := $(TSAN_SRCS:tests/tsan/%.c=$(BUILD)/tsan-tests/%)

# C programs the system tests drive (official libnats client scenarios).
DRIVER_SRCS := $(wildcard tests/drivers/*.c)
DRIVER_BINS := $(DRIVER_SRCS:tests/drivers/%.c=$(BUILD)/drivers/%)

FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
FUZZ_DIR  := build/fuzz
FUZZ_BINS := $(FUZZ_SRCS:fuzz/%.c=$(FUZZ_DIR)/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -pthread \
               -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
               -Wall -Wextra -Werror -Wno-unused-command-line-argument
FUZZ_SECONDS ?= 10

C_FILES := $(wildcard src/*.c src/*.h tests/unit/*.c tests/unit/stubs/*.c tests/tsan/*.c tests/drivers/*.c fuzz/*.c bench/*.c)

.PHONY: all run test unit unit-bins drivers system system-threaded fuzz fuzz-smoke format \
        check-format tidy cppcheck deps clean demo bench tsan-bins tsan-tests

all: $(BIN)

# Benchmarks: bench-build, bench (natsd vs nats-server, see docs/benchmarks.md).
include bench/bench.mk

$(BUILD)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/stubs/%.o: tests/unit/stubs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(MAIN_OBJ) $(LIB)
	$(CC) $(LDFLAGS) $(MAIN_OBJ) $(LIB) $(LDLIBS) -o $@

# Each unit test links its own source, the stubs, and only the library members it
# references (an archive is searched member by member).
$(BUILD)/tests/%: tests/unit/%.c $(LIB) $(STUB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -MMD -MP $< $(STUB_OBJS) $(LIB) $(LDLIBS) -lcriterion -o $@

$(BUILD)/tsan-tests/%: tests/tsan/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -MMD -MP $< $(LIB) $(LDLIBS) -o $@

$(BUILD)/drivers/%: tests/drivers/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP $< -lnats -o $@

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(STUB_OBJS:.o=.d) $(UNIT_BINS:=.d) $(DRIVER_BINS:=.d) \
         $(TSAN_BINS:=.d)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./$(BIN) $(ARGS)

# Unit tests run in the release build and again under ASan+UBSan; the system tests
# under ASan+UBSan, and the threaded cases again under TSan; then every fuzz target
# for a bounded time. CI runs exactly this. Each build step compiles on every CPU
# (BUILD_JOBS); the tests themselves never run beside a build or each other.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
test: deps
	@$(MAKE) --no-print-directory check-format
	@$(MAKE) --no-print-directory cppcheck
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) tidy
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all unit-bins
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) SANITIZER=address,undefined all unit-bins drivers
	@$(MAKE) --no-print-directory SANITIZER=address,undefined unit system
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) SANITIZER=thread all drivers tsan-bins
	@$(MAKE) --no-print-directory SANITIZER=thread tsan-tests
	@$(MAKE) --no-print-directory SANITIZER=thread system-threaded
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) fuzz
	@$(MAKE) --no-print-directory fuzz-smoke

unit-bins: $(UNIT_BINS)

tsan-bins: $(TSAN_BINS)

# Each tests/tsan program under TSan: a data race report, or a nonzero exit,
# fails the run. Without SANITIZER=thread this builds and runs the TSan variant.
TSAN_TEST_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1
tsan-tests:
ifneq ($(VARIANT),tsan)
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) SANITIZER=thread tsan-bins
	@$(MAKE) --no-print-directory SANITIZER=thread tsan-tests
else
	@$(MAKE) --no-print-directory tsan-bins
	@set -e; for t in $(TSAN_BINS); do echo "== $$t"; \
	  TSAN_OPTIONS=$(TSAN_TEST_OPTIONS) ./$$t >$$t.log 2>&1 || \
	    { cat $$t.log >&2; echo "$$t: failed" >&2; exit 1; }; cat $$t.log; \
	  if grep -q 'ThreadSanitizer' $$t.log; then echo "$$t: TSan report above" >&2; exit 1; fi; \
	done
endif

drivers: $(DRIVER_BINS)

# Criterion ignores the exit status LeakSanitizer gives its test workers, so
# a report in a sanitizer build's output fails the run here.
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; \
	  ./$$t --jobs 2 2>$$t.log || { cat $$t.log >&2; exit 1; }; cat $$t.log >&2; \
	  if grep -q 'Sanitizer' $$t.log; then echo "$$t: sanitizer report above" >&2; exit 1; fi; \
	done

SYSTEM_ENV = NATSD_BIN=$(abspath $(BIN)) NATSD_VARIANT=$(VARIANT) NATSD_DRIVERS=$(abspath $(BUILD)/drivers)

# Most system tests wait on servers and timers rather than burn CPU, so they
# run in PYTEST_JOBS parallel pytest-xdist workers (ports never clash: see
# free_port in tests/system/natsd.py): 3 on a 2-core machine take a third of
# the serial time. PYTEST_JOBS=0 runs them serially, in one process.
# --durations lists the slowest tests at the end of every run.
PYTEST_JOBS ?= 3
PYTEST_DURATIONS ?= 20
PYTEST_PAR = $(shell [ "$(PYTEST_JOBS)" != 0 ] && { $(PYTHON) -c 'import xdist' 2>/dev/null && \
                 printf -- '-n %s' $(PYTEST_JOBS) || \
                 echo 'pytest-xdist is missing (make deps installs it): running serially' >&2; })
PYTEST_OPTS = -q $(PYTEST_PAR) --durations=$(PYTEST_DURATIONS)

system: $(BIN) $(DRIVER_BINS)
	$(SYSTEM_ENV) $(PYTHON) -m pytest $(PYTEST_OPTS) tests/system $(PYTEST_ARGS)

system-threaded: $(BIN) $(DRIVER_BINS)
	$(SYSTEM_ENV) $(PYTHON) -m pytest $(PYTEST_OPTS) -m threaded tests/system $(PYTEST_ARGS)

$(FUZZ_DIR)/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -DNATSD_FUZZING -MMD -MP -c $< -o $@

$(FUZZ_DIR)/%: fuzz/%.c $(LIB_SRCS:src/%.c=$(FUZZ_DIR)/obj/%.o)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -Isrc $^ $(LDLIBS) -o $@

-include $(LIB_SRCS:src/%.c=$(FUZZ_DIR)/obj/%.d)

# keep the fuzz objects between runs (make would delete them as intermediates)
.PRECIOUS: $(FUZZ_DIR)/obj/%.o

fuzz: $(FUZZ_BINS)

# Each target runs for FUZZ_SECONDS from its seed corpus (copied, so runs never
# grow the committed corpus), in a network namespace of its own where one can be
# made: fuzz_peer's server dials whatever address a mutated INFO gossips.
fuzz-smoke: $(FUZZ_BINS)
	@set -e; iso=; unshare -rn true 2>/dev/null && iso="unshare -rn"; \
	for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); seed=fuzz/corpus/$${name#fuzz_}; work=$(FUZZ_DIR)/work/$$name; \
	  rm -rf $$work; mkdir -p $$work; [ -d $$seed ] && cp -r $$seed/. $$work/; \
	  dict=; [ -f fuzz/$${name#fuzz_}.dict ] && dict=-dict=fuzz/$${name#fuzz_}.dict; \
	  echo "== $$name ($(FUZZ_SECONDS)s)"; \
	  $$iso $$f $$dict -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 \
	     -artifact_prefix=$(FUZZ_DIR)/ \
	     -print_final_stats=1 $$work 2>&1 | tail -n 12; \
	  test $${PIPESTATUS[0]:-0} -eq 0; \
	done

format:
	clang-format -i $(C_FILES)

check-format:
	clang-format --dry-run --Werror $(C_FILES)

# Both are gates of `make test`: any finding fails them (.clang-tidy makes
# every enabled check an error). clang-tidy runs over the files in parallel.
TIDY_JOBS ?= $(BUILD_JOBS)
tidy:
	@echo "clang-tidy on $(words $(SRCS)) files, $(TIDY_JOBS) at a time"
	@printf '%s\n' $(SRCS) | xargs -P$(TIDY_JOBS) -n2 sh -c \
	  'clang-tidy --quiet "$$@" -- -std=c11 -D_GNU_SOURCE -Isrc 2>/dev/null' _ || \
	  { echo "clang-tidy: findings above (fix them, or NOLINT(check) with a reason)" >&2; exit 1; }

cppcheck:
	cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
	  --quiet -D_GNU_SOURCE -Isrc src

compile_commands.json:
	bear -- $(MAKE) -B all

# The supercluster example (examples/supercluster/); NATSD=nats-server runs it on the reference.
demo: all
	examples/supercluster/demo.sh $(or $(NATSD),$(abspath $(BIN)))

clean:
	rm -rf build
