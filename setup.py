"""Build hook: the C extensions, each from its component's build spec."""

from setuptools import setup

setup(
    cffi_modules=[
        "bridge/ffi_build.py:core_builder",
        "models/ffi_build.py:student_builder",
        "sim/ffi_build.py:evlog_builder",
    ]
)
