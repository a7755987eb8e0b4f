# ns-3 closed loop: evaluation, experience collection and the demo.

DEMO_OUT ?= $(ROOT)/out/demo

# The event-log writer (sim/evlog/), loaded by the ns-3 harness next to the core.
EVLOG_LIB := $(BUILD)/libaqmevlog.so

$(EVLOG_LIB): $(EVLOG_SRCS) $(EVLOG_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_CORE) -shared -o $@ $(EVLOG_SRCS)

.PHONY: evlog demo evaluate collect
# make test: builds it (tests/sim runs ns-3, which loads it).
evlog: $(EVLOG_LIB)
TEST_DEPS += evlog

DEMO_AQMS := --aqm dualpi2 --aqm pie --aqm codel --aqm fq-codel --aqm fifo

# The shipped policies against DualPI2, PIE, CoDel and FQ-CoDel on the default
# scenario, with the daemon loops in ns-3 on simulated time: the interval tier's
# student (models/shipped/interval, issue 16) and the per-packet student.
# make test: nothing (tests/sim runs shorter closed loops itself).
SHIPPED_INTERVAL := models/shipped/interval/student
demo: $(EXT_STAMP) core evlog
	@aqm=""; \
	if [ -f $(SHIPPED_INTERVAL)/manifest.json ]; then aqm="--aqm interval:model:$(SHIPPED_INTERVAL)"; \
	  else echo "demo: no shipped interval student in $(SHIPPED_INTERVAL)"; fi; \
	if [ -f models/shipped/student/manifest.json ]; then aqm="$$aqm --aqm student"; \
	  else echo "demo: no shipped per-packet student in models/shipped/student"; fi; \
	$(VENV)/bin/aqmllm evaluate sim/scenarios/eval/default.toml --out $(DEMO_OUT) $$aqm $(DEMO_AQMS)
	@echo "demo: report in $(DEMO_OUT)/report.md"

# make test: nothing.
evaluate: $(EXT_STAMP) core evlog
	$(VENV)/bin/aqmllm evaluate sim/scenarios/eval --out $(ROOT)/out/evaluate

# make test: nothing.
collect: $(EXT_STAMP) core evlog
	$(VENV)/bin/aqmllm collect sim/scenarios/train --out $(ROOT)/out/pools/ns3-train.npz --extra-seeds 1
