# The portable C core: Linux shared library, sanitizer fuzz build, bench.

CORE_LIB := $(BUILD)/libaqmcore.so
# The Linux stand-in for the kernel's region (shared-memory file) joins the
# portable core in the library that simulators and the emulator load.
LINUX_SRCS := $(sort $(wildcard kmod/linux/*.c))
LINUX_HDRS := $(wildcard kmod/linux/*.h)

.PHONY: core fuzz-random fuzz-build bench-core
core: $(CORE_LIB)

$(CORE_LIB): $(CORE_SRCS) $(CORE_HDRS) $(LINUX_SRCS) $(LINUX_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -I$(ROOT)/kmod/linux -shared -o $@ $(CORE_SRCS) $(LINUX_SRCS) -lrt

# Sanitizer build of the fuzz driver: every region access is checked.
FUZZ_BIN   := $(BUILD)/fuzz_ring
FUZZ_FLAGS := -std=c11 -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all -Wall -Wextra -Werror \
              -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include -I$(ROOT)/tests/c
FUZZ_ITERS ?= 20000000

$(FUZZ_BIN): tests/c/fuzz_ring.c tests/c/pktq.h $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(FUZZ_FLAGS) -o $@ tests/c/fuzz_ring.c $(CORE_SRCS)

fuzz-build: $(FUZZ_BIN)

# The random-bytes driver (short run: tests/core/test_fuzz.py); the
# coverage-guided targets and `make fuzz` are in mk/fuzz.mk.
fuzz-random: $(FUZZ_BIN)
	@for s in 1 2 3 4; do echo "seed $$s:"; $(FUZZ_BIN) -n $(FUZZ_ITERS) -s $$s || exit 1; done

BENCH_CORE := $(BUILD)/bench_core
$(BENCH_CORE): bench/bench_core.c tests/c/pktq.h $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O2 -march=native -Wall -Wextra -Werror -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include \
	    -o $@ bench/bench_core.c $(CORE_SRCS) -lpthread

bench-core: $(BENCH_CORE)
	$(BENCH_CORE)
