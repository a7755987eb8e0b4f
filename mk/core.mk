# The portable C core: built once into a static library (the C programs,
# the cffi extension) and a shared library (ns-3 loads it through cppyy);
# the sanitizer flavour for the fuzz driver; the core's benchmark.

CORE_LIB  := $(BUILD)/libaqmcore.so
CORE_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRCS))

$(BUILD)/obj/%.o: %.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -c -o $@ $<

$(CORE_A): $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CORE_LIB): $(CORE_A)
	$(CC) -shared -o $@ -Wl,--whole-archive $< -Wl,--no-whole-archive -lrt

.PHONY: core core-lib fuzz-random fuzz-build bench-core
# make test: builds both (the extension links the static one, ns-3 loads the shared one).
core-lib: $(CORE_A)
core: $(CORE_A) $(CORE_LIB)
TEST_DEPS += core

# Sanitizer build of the fuzz driver: every region access is checked, so
# the core is compiled again with the sanitizers (its own objects, the same flags).
SAN_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
CORE_SAN_A := $(BUILD)/libaqmcore-san.a
FUZZ_BIN   := $(BUILD)/fuzz_ring
FUZZ_ITERS ?= 20000000

$(BUILD)/obj-san/%.o: %.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(SAN_FLAGS) $(CORE_INCS) -c -o $@ $<

$(CORE_SAN_A): $(patsubst %.c,$(BUILD)/obj-san/%.o,$(CORE_SRCS))
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BIN): tests/c/fuzz_ring.c $(CORE_SAN_A)
	$(CC) $(CFLAGS_CORE) $(SAN_FLAGS) $(CORE_INCS) -o $@ $< $(CORE_SAN_A)

# make test: nothing (tests/core/test_fuzz.py builds fuzz-build itself for its short run).
fuzz-build: $(FUZZ_BIN)

# make test: nothing. The random-bytes driver's long run (its short run is
# tests/core/test_fuzz.py); the coverage-guided targets and `make fuzz` are in mk/fuzz.mk.
fuzz-random: $(FUZZ_BIN)
	@for s in 1 2 3 4; do echo "seed $$s:"; $(FUZZ_BIN) -n $(FUZZ_ITERS) -s $$s || exit 1; done

BENCH_CORE := $(BUILD)/bench_core
$(BENCH_CORE): bench/bench_core.c $(CORE_A)
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -o $@ $< $(CORE_A) -lpthread

# make test: nothing.
bench-core: $(BENCH_CORE)
	$(BENCH_CORE)
