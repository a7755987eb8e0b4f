# The portable C core: built once into a static library (the C programs,
# the cffi extension) and a shared library (ns-3 loads it through cppyy);
# its sanitizer flavour; the core's benchmark.

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

.PHONY: core core-lib bench-core
# make test: builds both (the extension links the static one, ns-3 loads the shared one).
core-lib: $(CORE_A)
core: $(CORE_A) $(CORE_LIB)
TEST_DEPS += core

# The core compiled again with the sanitizers (its own objects, the same
# flags), for the C programs tested under ASan/UBSan: the glue test, the
# fuzz targets' standalone driver (mk/kmod.mk, mk/fuzz.mk).
SAN_FLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
CORE_SAN_A := $(BUILD)/libaqmcore-san.a

$(BUILD)/obj-san/%.o: %.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) $(SAN_FLAGS) $(CORE_INCS) -c -o $@ $<

$(CORE_SAN_A): $(patsubst %.c,$(BUILD)/obj-san/%.o,$(CORE_SRCS))
	@rm -f $@
	ar rcs $@ $^

BENCH_CORE := $(BUILD)/bench_core
$(BENCH_CORE): bench/bench_core.c $(CORE_A)
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -o $@ $< $(CORE_A) -lpthread

# make test: nothing.
bench-core: $(BENCH_CORE)
	$(BENCH_CORE)
