# Model benchmarks and the synthetic smoke pipeline.

.PHONY: bench-models
# make test: nothing.
bench-models: $(EXT_STAMP)
	$(PY) bench/bench_models.py
