# The Linux real-traffic emulator: a TUN router around the portable core,
# real TCP/UDP from iperf3 in network namespaces, aqmllmd deciding.

EMU_ROUTER := $(BUILD)/aqmllm-emu-router
EMU_SRCS   := $(sort $(wildcard sim/emu/*.c))
EMU_HDRS   := $(wildcard sim/emu/*.h)

$(EMU_ROUTER): $(EMU_SRCS) $(EMU_HDRS) $(CORE_A)
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -o $@ $(EMU_SRCS) $(CORE_A) -lrt

.PHONY: emu-router emu-deps emu-test soak soak-short
# make test: builds it (tests/emu runs the router).
emu-router: $(EMU_ROUTER)
TEST_DEPS += emu-router

# iperf3 and ping come from Debian; installed here when missing (best effort:
# the emulator tests skip with the reason when they are still absent).
emu-deps:
	@command -v iperf3 >/dev/null 2>&1 && command -v ping >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 iputils-ping) >/dev/null 2>&1; } || \
	  echo "note: iperf3/ping unavailable; the emulator tests will be skipped"
# make test: installs them (tests/emu sends real traffic).
TEST_DEPS += emu-deps

# make test: nothing (tests/emu is part of it already).
emu-test: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) -m pytest tests/emu $(PYTEST_ARGS)

# An hour of real traffic through router and daemon with faults injected,
# checking memory and counters for growth.
SOAK_SECONDS ?= 3600
# make test: nothing.
soak: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) -m aqmllm.sim.emu.soak --seconds $(SOAK_SECONDS)

# make test: nothing.
soak-short: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) -m aqmllm.sim.emu.soak --seconds 120 --fault-period 15 --segment 30

.PHONY: bench-emu
# make test: nothing.
bench-emu: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) bench/bench_emu.py
