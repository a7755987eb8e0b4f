# Coverage-guided fuzzing (libFuzzer, Debian's clang) of every input the
# kernel side takes from userspace: the daemon-written region, /dev/aqmllm
# requests, sysctl writes and the IP_DUMMYNET3 message aqmllmctl builds.
#
#   make fuzz          >= 10^7 executions over all targets, with figures
#   make fuzz-targets  the targets only
# `make test` runs a short run (tests/fuzz/test_fuzz_targets.py).

FUZZ_CC      ?= clang
FUZZ_DIR     := $(BUILD)/fuzz
FUZZ_TARGETS := ring ioctl sysctl dnmsg
FUZZ_CFLAGS  := -std=c11 -O1 -g -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -Wall -Wextra -Werror \
                -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include -I$(ROOT)/kmod/freebsd \
                -I$(ROOT)/tests/fuzz
FUZZ_GLUE    := kmod/freebsd/llm_cfg.c kmod/freebsd/llm_ctl.c kmod/freebsd/llm_tun.c \
                kmod/freebsd/llm_fifo.c kmod/freebsd/llm_admit.c
FUZZ_DEPS    := $(CORE_SRCS) $(CORE_HDRS) $(FUZZ_GLUE) kmod/freebsd/llm_glue.h \
                $(wildcard tests/fuzz/*.h)
FUZZ_RUNS    ?= 10000000

.PHONY: fuzz fuzz-targets fuzz-deps
fuzz-targets: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%) $(FUZZ_DIR)/dnmsg_check

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DEPS)
	@mkdir -p $(FUZZ_DIR)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_GLUE) $(CORE_SRCS)

# The dnmsg target as a plain program: what the kernel makes of a message.
$(FUZZ_DIR)/dnmsg_check: tests/fuzz/fuzz_dnmsg.c $(FUZZ_DEPS)
	@mkdir -p $(FUZZ_DIR)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -DDNMSG_MAIN \
	    -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include -I$(ROOT)/kmod/freebsd \
	    -I$(ROOT)/tests/fuzz -o $@ tests/fuzz/fuzz_dnmsg.c $(FUZZ_GLUE) $(CORE_SRCS)

# The ring target without libFuzzer, under gcc's ASan/UBSan: random inputs
# or given files (a corpus, a finding), with a report of what they reached.
# make test: nothing (tests/fuzz/test_fuzz_targets.py builds and runs it).
FUZZ_STANDALONE := $(FUZZ_DIR)/fuzz_ring_standalone
$(FUZZ_STANDALONE): tests/fuzz/fuzz_ring.c tests/fuzz/fuzz_standalone.c $(FUZZ_DEPS) $(CORE_SAN_A)
	@mkdir -p $(FUZZ_DIR)
	$(CC) $(CFLAGS_CORE) $(SAN_FLAGS) -DFUZZ_STANDALONE $(CORE_INCS) \
	    -I$(ROOT)/kmod/freebsd -I$(ROOT)/tests/fuzz -o $@ \
	    tests/fuzz/fuzz_ring.c tests/fuzz/fuzz_standalone.c $(FUZZ_GLUE) $(CORE_SAN_A)
fuzz-standalone: $(FUZZ_STANDALONE)
.PHONY: fuzz-standalone

# Debian's clang and its libFuzzer runtime; best effort (the tests skip without).
fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null 2>&1 && \
	  ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang libclang-rt-14-dev) \
	    >/dev/null 2>&1; } || echo "note: clang/libFuzzer unavailable; the fuzz tests will be skipped"

system-deps: fuzz-deps

fuzz: fuzz-deps fuzz-targets $(EXT_STAMP)
	nice -n 10 $(PY) tests/fuzz/run_fuzz.py --build $(FUZZ_DIR) --runs $(FUZZ_RUNS)
