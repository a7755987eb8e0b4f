# Interval-tier learning (issue 16): generator speed and IQL step times.
#   make bench-interval             student, tiny teacher, generator
#   make bench-interval SMOLLM2=1   also the pretrained SmolLM2-135M + LoRA teacher
.PHONY: bench-interval
bench-interval: $(EXT_STAMP)
	$(PY) bench/bench_interval.py $(if $(SMOLLM2),--smollm2)

# Ablation (c) of issue 16, no teacher: CMA-ES over the 19-parameter linear interval
# policy (models/rl/linear_interval.py), scored in closed loop in ns-3 against DualPI2 on
# generated scenarios only (docs/learning/cma-interval.md).  About an hour on 2 cores;
# resumable (re-run the target).  Not part of `make test`.
#   make train-cma-interval [CMA_GENERATIONS=14 CMA_BUDGET_MIN=55 CMA_WORKERS=2]
CMA_OUT ?= out/cma-interval
CMA_GENERATIONS ?= 14
CMA_BUDGET_MIN ?= 55
CMA_WORKERS ?= 2
CMA_FAMILIES := steady dynamics wide
.PHONY: train-cma-interval
train-cma-interval: $(EXT_STAMP)
	for f in $(CMA_FAMILIES); do \
	  $(VENV)/bin/aqmllm scenarios generate --family $$f --n 16 --seed 1601 \
	    --out $(CMA_OUT)/train/$$f && \
	  $(VENV)/bin/aqmllm scenarios generate --family $$f --n 4 --seed 1699 \
	    --out $(CMA_OUT)/valid/$$f || exit 1; \
	done
	nice -n 19 $(PY) -m aqmllm.sim.cma_interval \
	  --train $(addprefix $(CMA_OUT)/train/,$(CMA_FAMILIES)) \
	  --valid $(addprefix $(CMA_OUT)/valid/,$(CMA_FAMILIES)) \
	  --out $(CMA_OUT)/run --generations $(CMA_GENERATIONS) --popsize 10 --batch 8 \
	  --sigma 0.3 --seed 16 --workers $(CMA_WORKERS) --budget-min $(CMA_BUDGET_MIN) --resume

# The closed loop of issue 16 (docs/learning/closed-loop.md): generated scenarios ->
# pools collected in ns-3 under behaviour policies -> IQL student -> validation on
# generated scenarios, three iterations with a Genet focus; the best on validation is
# LOOP_OUT/final.  About 1.5 hours on 2 cores; resumable (re-run the target).  The
# held-out judgement is a separate step (make judge-interval, below).  Not part of make test.
# Then (sim/interval_ship.py), from the selected iteration's pools and critic: a
# student blind to the residual in effect (1 min), the LLM teachers -- pretrained
# SmolLM2 + LoRA and the same architecture randomly initialised -- by IQL, each
# distilled into the student (~25 min each), CMA-ES fine-tuning of that student's
# last-layer biases in ns-3 (FINETUNE_MIN), every candidate scored on the same
# validation set, and the pick copied to SHIP_OUT (models/shipped/interval holds
# the one shipped).
#   make train-all [LOOP_OUT=out/loop LOOP_ITERATIONS=3 LOOP_WORKERS=2 SHIP_OUT=...]
LOOP_OUT ?= out/loop
LOOP_ITERATIONS ?= 3
LOOP_WORKERS ?= 2
TEACHER_STEPS ?= 800
FINETUNE_MIN ?= 42
SHIP_OUT ?= $(LOOP_OUT)/shipped
.PHONY: train-all
train-all: $(EXT_STAMP) core evlog
	nice -n 10 $(PY) -m aqmllm.sim.interval_iterate --out $(LOOP_OUT) \
	  --iterations $(LOOP_ITERATIONS) --workers $(LOOP_WORKERS)
	nice -n 10 $(PY) -m aqmllm.sim.interval_ship --loop $(LOOP_OUT) --ship $(SHIP_OUT) \
	  --teacher-steps $(TEACHER_STEPS) --finetune-min $(FINETUNE_MIN) --workers $(LOOP_WORKERS) \
	  --extra cma-interval=models/cma-interval

# The held-out judgement of interval policies (issue 16), run once after a pick, never
# to choose one: the three held-out suites through the classic AQMs, their target
# sweep, DualPI2 at 14 and 16 ms (the judge's noise floor: docs/evaluation/
# noise-floor.md) and each JUDGE_MODELS as interval:model:PATH; then `aqmllm compare`
# against DualPI2 and against the best static DualPI2 target.  JUDGE_SEEDS=N runs N
# seeds per scenario (its own first; the suites' files are not edited).  Resumable.
#   make judge-interval [JUDGE_MODELS="models/shipped/interval/student ..." JUDGE_SEEDS=6]
JUDGE_MODELS ?= models/shipped/interval/student models/cma-interval
JUDGE_OUT ?= out/judge$(JUDGE_SEEDS)
JUDGE_WORKERS ?= 2
JUDGE_CLASSIC := dualpi2 pie codel fifo ns3-pie ns3-codel fq-codel ns3-red cobalt \
  dualpi2@14ms dualpi2@16ms
.PHONY: judge-interval
judge-interval: $(EXT_STAMP) core evlog
	nice -n 5 $(VENV)/bin/aqmllm evaluate sim/scenarios/eval sim/scenarios/rfc7928 \
	  sim/scenarios/l4s-stress --sweep $(if $(JUDGE_SEEDS),--seeds $(JUDGE_SEEDS)) \
	  $(addprefix --aqm ,$(JUDGE_CLASSIC)) $(addprefix --aqm interval:model:,$(JUDGE_MODELS)) \
	  --workers $(JUDGE_WORKERS) --resume --out $(JUDGE_OUT)
	for m in dualpi2@14ms $(addprefix interval:model:,$(JUDGE_MODELS)); do \
	  for ref in dualpi2 best-static; do \
	    echo "== $$m against $$ref"; \
	    $(VENV)/bin/aqmllm compare $(JUDGE_OUT) --model $$m --ref $$ref | tail -4; \
	  done; \
	done
	$(if $(JUDGE_SEEDS),$(VENV)/bin/aqmllm compare $(JUDGE_OUT) --null | tail -2)
