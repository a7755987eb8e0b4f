# The Linux real-traffic emulator: a TUN router around the portable core,
# real TCP/UDP from iperf3 in network namespaces, aqmllmd deciding.

EMU_ROUTER := $(BUILD)/aqmllm-emu-router
# The router's own files (the traffic generators below are programs of their own).
EMU_SRCS   := $(sort $(wildcard sim/emu/emu_*.c))
EMU_HDRS   := $(wildcard sim/emu/*.h)

$(EMU_ROUTER): $(EMU_SRCS) $(EMU_HDRS) $(CORE_A) $(EVLOG_SRCS) $(EVLOG_HDRS)
	$(CC) $(CFLAGS_CORE) $(CORE_INCS) -I$(ROOT)/sim/evlog -o $@ $(EMU_SRCS) $(EVLOG_SRCS) \
	    $(CORE_A) -lrt

.PHONY: emu-router emu-deps emu-test soak soak-short emu-gens
# make test: builds it (tests/emu runs the router).
emu-router: $(EMU_ROUTER)
TEST_DEPS += emu-router

# Traffic generators of the emulator (each file's header says how to run it):
# the Prague-like scalable sender over UDP and its receiver; the web client
# and server (finite TCP transfers from a schedule, flow completion times).
GEN_HDRS    := sim/emu/gen_common.h
PRAGUE_SEND := $(BUILD)/aqmllm-prague-send
PRAGUE_RECV := $(BUILD)/aqmllm-prague-recv
WEB_CLIENT  := $(BUILD)/aqmllm-web-client
WEB_SERVER  := $(BUILD)/aqmllm-web-server
EMU_GENS    := $(PRAGUE_SEND) $(PRAGUE_RECV) $(WEB_CLIENT) $(WEB_SERVER)

$(WEB_CLIENT): sim/emu/web_client.c sim/emu/web_wire.h $(GEN_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -o $@ sim/emu/web_client.c

$(WEB_SERVER): sim/emu/web_server.c sim/emu/web_wire.h $(GEN_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -o $@ sim/emu/web_server.c

$(PRAGUE_SEND): sim/emu/prague_send.c sim/emu/prague_cc.c sim/emu/prague_cc.h \
                sim/emu/prague_wire.h $(GEN_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -o $@ sim/emu/prague_send.c sim/emu/prague_cc.c -lm

$(PRAGUE_RECV): sim/emu/prague_recv.c sim/emu/prague_wire.h $(GEN_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -o $@ sim/emu/prague_recv.c

# make test: builds them (tests/emu runs them).
emu-gens: $(EMU_GENS)
TEST_DEPS += emu-gens

# iperf3 and ping come from Debian; installed here when missing (best effort:
# the emulator tests skip with the reason when they are still absent).  irtt
# measures latency under load (ping stands in without it); nftables rewrites
# TCP's ECT(0) to ECT(1) for flows with ecn = "ect1".
EMU_APT := iperf3 iputils-ping irtt nftables
emu-deps:
	@command -v iperf3 >/dev/null 2>&1 && command -v ping >/dev/null 2>&1 && \
	  command -v irtt >/dev/null 2>&1 && command -v nft >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(EMU_APT)) >/dev/null 2>&1; } || \
	  echo "note: some of $(EMU_APT) unavailable; the emulator tests that need them will be skipped"
# make test: installs them (tests/emu sends real traffic).
TEST_DEPS += emu-deps

# make test: nothing (tests/emu is part of it already).
emu-test: $(EXT_STAMP) $(EMU_ROUTER) $(EMU_GENS) emu-deps
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

# Issue 16, item 8: the shipped interval policy against DualPI2 with real TCP
# (Cubic, Reno, BBR, the Prague-like sender; irtt under load), ~3 min per repeat.
EMU_VALIDATE_REPEATS ?= 3
.PHONY: emu-validate
# make test: nothing (tests/emu/test_emu_interval.py runs the interval AQM briefly).
emu-validate: $(EXT_STAMP) $(EMU_ROUTER) $(EMU_GENS) emu-deps
	$(PY) -m aqmllm.sim.emu_validate --repeats $(EMU_VALIDATE_REPEATS) --out $(ROOT)/out/emu-validate

.PHONY: bench-emu
# make test: nothing.
bench-emu: $(EXT_STAMP) $(EMU_ROUTER) emu-deps
	$(PY) bench/bench_emu.py

# L4S and web figures: the Prague-like sender through DualPI2 (alone, two
# flows, against Cubic) and web FCTs beside bulk traffic (~4 minutes).
.PHONY: bench-emu-prague
bench-emu-prague: $(EXT_STAMP) $(EMU_ROUTER) $(EMU_GENS) emu-deps
	$(PY) bench/bench_emu_prague.py
