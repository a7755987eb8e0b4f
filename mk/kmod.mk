# FreeBSD module checks that run on Linux.

.PHONY: kmod-check man-lint
kmod-check: $(EXT_STAMP)
	$(PY) kmod/check/kmod_check.py

man-lint:
	@command -v mandoc >/dev/null || (apt-get update -qq && apt-get install -y -qq mandoc)
	mandoc -T lint -W warning kmod/man/*.[48]
