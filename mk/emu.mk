# The Linux real-traffic emulator: a TUN router around the portable core,
# real TCP/UDP from iperf3 in network namespaces, aqmllmd deciding.

EMU_ROUTER := $(BUILD)/aqmllm-emu-router
EMU_CFLAGS := -std=c11 -O2 -Wall -Wextra -Werror -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include \
              -I$(ROOT)/kmod/linux

$(EMU_ROUTER): sim/emu/emu_router.c $(CORE_SRCS) $(CORE_HDRS) $(LINUX_SRCS) $(LINUX_HDRS) \
              $(EVLOG_SRCS) $(EVLOG_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(EMU_CFLAGS) -I$(ROOT)/sim/evlog -o $@ sim/emu/emu_router.c $(CORE_SRCS) $(LINUX_SRCS) \
	    $(EVLOG_SRCS)

.PHONY: emu-router emu-deps emu-test soak soak-short
emu-router: $(EMU_ROUTER)

# iperf3 and ping come from Debian; installed here when missing (best effort:
# the emulator tests skip with the reason when they are still absent).
emu-deps:
	@command -v iperf3 >/dev/null 2>&1 && command -v ping >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 iputils-ping) >/dev/null 2>&1; } || \
	  echo "note: iperf3/ping unavailable; the emulator tests will be skipped"

test: emu-router emu-deps

emu-test: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) -m pytest tests/emu $(PYTEST_ARGS)

# An hour of real traffic through router and daemon with faults injected,
# checking memory and counters for growth (not part of `make test`).
SOAK_SECONDS ?= 3600
soak: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) -m aqmllm.sim.emu.soak --seconds $(SOAK_SECONDS)

soak-short: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) -m aqmllm.sim.emu.soak --seconds 120 --fault-period 15 --segment 30

.PHONY: bench-emu
bench-emu: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) bench/bench_emu.py
