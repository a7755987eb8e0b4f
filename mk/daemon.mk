# The Linux producer (the kernel side for tests and benchmarks) and the
# daemon benchmark.

PRODUCER := $(BUILD)/aqmllm-producer

$(PRODUCER): bridge/producer/aqmllm_producer.c $(CORE_A) aqmllm/__init__.py
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -DAQMLLM_VERSION='"$(AQMLLM_VERSION)"' -o $@ $< $(CORE_A) -lrt

.PHONY: producer bench-daemon
# make test: nothing (tests/daemon/test_daemon_process.py builds it when it runs).
producer: $(PRODUCER)

# make test: nothing.  The per-packet figures, then the interval tier's.
bench-daemon: $(EXT_STAMP) $(PRODUCER)
	$(PY) bench/bench_daemon.py --producer $(PRODUCER)
	$(PY) bench/bench_daemon_interval.py --producer $(PRODUCER)

.PHONY: bench-daemon-interval
# make test: nothing.  Only the interval tier's figures.
bench-daemon-interval: $(EXT_STAMP) $(PRODUCER)
	$(PY) bench/bench_daemon_interval.py --producer $(PRODUCER)
