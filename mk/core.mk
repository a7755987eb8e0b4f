# The portable C core: Linux shared library, sanitizer fuzz build, bench.

CORE_LIB := $(BUILD)/libaqmcore.so

.PHONY: core fuzz fuzz-short bench-core
core: $(CORE_LIB)

$(CORE_LIB): $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -shared -o $@ $(CORE_SRCS)
