"""Builds the Cython hot path in tracker/_fast (metadata lives in pyproject.toml)."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

FAST_MODULES = ["pathpairs", "columns", "ids"]

extensions = [
    Extension(
        f"tracker._fast.{name}",
        [os.path.join("tracker", "_fast", f"{name}.pyx")],
        extra_compile_args=["-O3"],
    )
    for name in FAST_MODULES
    if os.path.exists(os.path.join("tracker", "_fast", f"{name}.pyx"))
]

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)
