# Interval-tier learning (issue 16): generator speed and IQL step times.
#   make bench-interval             student, tiny teacher, generator
#   make bench-interval SMOLLM2=1   also the pretrained SmolLM2-135M + LoRA teacher
.PHONY: bench-interval
bench-interval: $(EXT_STAMP)
	$(PY) bench/bench_interval.py $(if $(SMOLLM2),--smollm2)
