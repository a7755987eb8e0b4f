# ns-3 closed loop: evaluation, experience collection and the demo.

DEMO_OUT ?= $(ROOT)/out/demo

# The event-log writer (sim/evlog/), loaded by the ns-3 harness next to the core.
EVLOG_LIB := $(BUILD)/libaqmevlog.so

$(EVLOG_LIB): $(EVLOG_SRCS) $(EVLOG_HDRS)
	@mkdir -p $(BUILD)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared -o $@ $(EVLOG_SRCS)

.PHONY: evlog
evlog: $(EVLOG_LIB)
test: evlog
DEMO_AQMS := --aqm dualpi2 --aqm pie --aqm codel --aqm fq-codel --aqm fifo

.PHONY: demo evaluate collect
# The shipped student against DualPI2, PIE, CoDel and FQ-CoDel on the default
# scenario, with the daemon loop in ns-3 on simulated time.
demo: $(EXT_STAMP) core evlog
	@if [ -f models/shipped/student/manifest.json ]; then aqm="--aqm student"; \
	  else echo "demo: no shipped student in models/shipped/student; classical AQMs only"; aqm=""; fi; \
	$(VENV)/bin/aqmllm evaluate sim/scenarios/eval/default.toml --out $(DEMO_OUT) $$aqm $(DEMO_AQMS)
	@echo "demo: report in $(DEMO_OUT)/report.md"

evaluate: $(EXT_STAMP) core evlog
	$(VENV)/bin/aqmllm evaluate sim/scenarios/eval --out $(ROOT)/out/evaluate

collect: $(EXT_STAMP) core evlog
	$(VENV)/bin/aqmllm collect sim/scenarios/train --out $(ROOT)/out/pools/ns3-train.npz --extra-seeds 1
