"""Build hook: compiles the cffi bindings (ring ABI, portable C core, student fast path,
the simulators' event log)."""

from setuptools import setup

setup(
    cffi_modules=[
        "bridge/ffi_build.py:layout_builder",
        "bridge/ffi_build.py:core_builder",
        "bridge/ffi_build.py:student_builder",
        "sim/ffi_build.py:evlog_builder",
    ]
)
