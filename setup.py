"""Builds the Cython hot path in tracker/_fast (metadata lives in pyproject.toml)."""

import os
import shutil
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

FAST_MODULES = ["pathpairs", "columns", "ids", "native", "rowjson", "httpreader", "shmcounter",
                "eventcore", "httpwire", "oneevent", "connection",
                "deadline", "request", "ingestcore", "walcore"]
# C libraries a module links with: walcore checksums with zlib's crc32 (the
# reader's zlib.crc32 is the same function).
LIBRARIES = {"walcore": ["z"]}


class BuildWithSchema(build_py):
    """Ship the SQL files of schema/ inside the package, as tracker/_schema/."""

    def run(self):
        super().run()
        if Path("schema").is_dir():
            shutil.copytree("schema", Path(self.build_lib) / "tracker" / "_schema",
                            dirs_exist_ok=True)


extensions = [
    Extension(
        f"tracker._fast.{name}",
        [os.path.join("tracker", "_fast", f"{name}.pyx")],
        extra_compile_args=["-O3"],
        libraries=LIBRARIES.get(name, []),
    )
    for name in FAST_MODULES
    if os.path.exists(os.path.join("tracker", "_fast", f"{name}.pyx"))
]

setup(
    cmdclass={"build_py": BuildWithSchema},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
)
