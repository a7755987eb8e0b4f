# The Linux producer (the kernel side for tests and benchmarks) and the
# daemon benchmark.

PRODUCER := $(BUILD)/aqmllm-producer

$(PRODUCER): bridge/producer/aqmllm_producer.c $(CORE_SRCS) $(CORE_HDRS) $(LINUX_SRCS) $(LINUX_HDRS) \
              aqmllm/__init__.py
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -DAQMLLM_VERSION='"$(AQMLLM_VERSION)"' \
	    -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include \
	    -I$(ROOT)/kmod/linux -o $@ bridge/producer/aqmllm_producer.c $(CORE_SRCS) $(LINUX_SRCS)

.PHONY: producer bench-daemon
producer: $(PRODUCER)

bench-daemon: $(EXT_STAMP) $(PRODUCER)
	$(PY) bench/bench_daemon.py --producer $(PRODUCER)
