"""Build hook: compiles the cffi binding of the portable C core at install."""

from setuptools import setup

setup(cffi_modules=["bridge/ffi_build.py:layout_builder", "bridge/ffi_build.py:core_builder"])
