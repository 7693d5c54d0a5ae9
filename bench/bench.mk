# natsd benchmarks (bench/). Included by the main Makefile (`include bench/bench.mk`), and
# usable alone from the repository root: `make -f bench/bench.mk bench-build`.
#
#   make bench-build   build the bench tools into build/bench/ (needs libnats-dev; and
#                      natsd's release library, for bench_flood_lib)
#   make bench         build natsd and the tools, then run bench/run.py
#                      (BENCH_ARGS="--rounds 5 --write-docs" passes options to run.py;
#                      BENCH_NATSD=/usr/sbin/nats-server puts the reference in natsd's
#                      column too, for a sanity run of the runner itself)
#
# Every variable here has a BENCH_ prefix so that including this file changes nothing in
# the main Makefile.

BENCH_CC      ?= cc
BENCH_PYTHON  ?= /usr/bin/python3
BENCH_DIR     := build/bench
BENCH_CFLAGS  := -std=c11 -D_GNU_SOURCE -O2 -g -pthread -Wall -Wextra -Werror -Wshadow \
                 -Wstrict-prototypes -Wmissing-prototypes -Wvla
BENCH_LDLIBS  := -lnats -pthread
BENCH_TOOLS   := bench_pub bench_sub bench_rr bench_conns bench_interest bench_flood \
                 bench_authstall
BENCH_BINS    := $(addprefix $(BENCH_DIR)/,$(BENCH_TOOLS))
BENCH_ARGS    ?=
BENCH_NATSD   ?= build/release/natsd

.PHONY: bench-build bench bench-natsd

bench-build: $(BENCH_BINS)

$(BENCH_DIR)/%: bench/%.c bench/bench_util.c bench/bench_util.h bench/flood_keys.h bench/bench.mk
	@mkdir -p $(BENCH_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) $< bench/bench_util.c -o $@ $(BENCH_LDLIBS)

# bench_flood_lib links natsd's own library (the sublist and hmap in process), built
# by the main Makefile's release variant whichever file included us; the tool is
# relinked every time, which is one small compile.
BENCH_LIB := build/release/libnatsd.a
bench-build: $(BENCH_DIR)/bench_flood_lib

$(BENCH_DIR)/bench_flood_lib: bench/bench_flood_lib.c bench/flood_keys.h bench/bench.mk FORCE_BENCH
	@mkdir -p $(BENCH_DIR)
	@$(MAKE) --no-print-directory -f Makefile SANITIZER= $(BENCH_LIB)
	$(BENCH_CC) $(BENCH_CFLAGS) -Isrc $< $(BENCH_LIB) -pthread -o $@

.PHONY: FORCE_BENCH
FORCE_BENCH:

# natsd itself comes from the main Makefile (release build), whichever file included us.
bench-natsd:
	@$(MAKE) --no-print-directory -f Makefile SANITIZER= all

bench: bench-build bench-natsd
	$(BENCH_PYTHON) bench/run.py --natsd $(BENCH_NATSD) --bench-dir $(BENCH_DIR) --via-make \
	  $(BENCH_ARGS)
