# FreeBSD module checks that run on Linux.

.PHONY: kmod-check man-lint glue-test
# make test: nothing (tests/kmod/test_kmod_compile.py runs the same check).
kmod-check: $(EXT_STAMP)
	$(PY) kmod/check/kmod_check.py

# The FreeBSD glue's portable decisions (kmod/freebsd/llm_glue.h), on Linux,
# with the sanitizers (the core's sanitizer objects, the core's flags).
# make test: nothing (tests/kmod builds and runs it).
GLUE_SRCS := $(filter-out %/dn_llm_aqm.c %/dn_llm_sched.c %/llm_dev.c %/llm_module.c \
               %/llm_sysctl.c %/llm_pktq.c,$(wildcard kmod/freebsd/*.c))
GLUE_TEST := $(BUILD)/test_glue
GLUE_TESTS := $(wildcard tests/kmod/c/*.c)
$(GLUE_TEST): $(GLUE_TESTS) $(wildcard tests/kmod/c/*.h) $(GLUE_SRCS) kmod/freebsd/llm_glue.h \
              $(CORE_SAN_A)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) $(SAN_FLAGS) $(CORE_INCS) -I$(ROOT)/kmod/freebsd \
	    -o $@ $(GLUE_TESTS) $(GLUE_SRCS) $(CORE_SAN_A)

glue-test: $(GLUE_TEST)
	$(GLUE_TEST)

# make test: nothing (system-deps installs mandoc for tests/kmod/test_man_lint.py).
man-lint:
	@command -v mandoc >/dev/null || (apt-get update -qq && apt-get install -y -qq mandoc)
	mandoc -T lint -W warning kmod/man/*.[48]

# shellcheck for the rc.d script and the FreeBSD acceptance script; best
# effort (the lint falls back to sh -n, and says so, without it).
.PHONY: lint-deps shell-lint
lint-deps:
	@command -v shellcheck >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck) \
	  >/dev/null 2>&1; } || echo "note: shellcheck unavailable; shell lint is sh -n only"

system-deps: lint-deps

SHELL_SCRIPTS := rc.d/aqmllmd.in kmod/check/freebsd-acceptance.sh
shell-lint: lint-deps
	for f in $(SHELL_SCRIPTS); do sh -n $$f || exit 1; done
	command -v shellcheck >/dev/null && shellcheck -s sh $(SHELL_SCRIPTS)

# make test: nothing.  The glue's queue memory, measured through llm_fifo.c.
BENCH_KMOD_FIFO := $(BUILD)/bench_kmod_fifo
$(BENCH_KMOD_FIFO): bench/bench_kmod_fifo.c kmod/freebsd/llm_fifo.c kmod/freebsd/llm_glue.h $(CORE_A)
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -I$(ROOT)/kmod/freebsd -o $@ bench/bench_kmod_fifo.c \
	    kmod/freebsd/llm_fifo.c $(CORE_A)
.PHONY: bench-kmod-fifo
bench-kmod-fifo: $(BENCH_KMOD_FIFO)
	$(BENCH_KMOD_FIFO)
