# FreeBSD module checks that run on Linux.

.PHONY: kmod-check man-lint
# make test: nothing (tests/kmod/test_kmod_compile.py runs the same check).
kmod-check: $(EXT_STAMP)
	$(PY) kmod/check/kmod_check.py

# make test: nothing (system-deps installs mandoc for tests/kmod/test_man_lint.py).
man-lint:
	@command -v mandoc >/dev/null || (apt-get update -qq && apt-get install -y -qq mandoc)
	mandoc -T lint -W warning kmod/man/*.[48]
