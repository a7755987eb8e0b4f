# The Linux real-traffic emulator: a TUN router around the portable core.

EMU_ROUTER := $(BUILD)/aqmllm-emu-router

$(EMU_ROUTER): sim/emu/emu_router.c $(CORE_SRCS) $(CORE_HDRS) $(LINUX_SRCS) $(LINUX_HDRS)
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include \
	    -I$(ROOT)/kmod/linux -o $@ sim/emu/emu_router.c $(CORE_SRCS) $(LINUX_SRCS)

.PHONY: emu-router soak
emu-router: $(EMU_ROUTER)

# An hour of traffic through router and daemon, checking memory and counters.
SOAK_SECONDS ?= 3600
soak: $(EXT_STAMP) $(EMU_ROUTER) producer
	$(PY) -m aqmllm.sim.emu.soak --seconds $(SOAK_SECONDS)
