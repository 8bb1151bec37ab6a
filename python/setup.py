"""Builds the shoal package with setuptools, for

    pip install --no-build-isolation ./python

(offline, with Debian's python3-setuptools and python3-dev). The extension
module is compiled from python/src/ together with the library's own sources
(../src), so the package needs no installed libshoal. `make` builds the same
package with CMake (python/CMakeLists.txt); this file is for pip."""

import glob
import os

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)


def rel(*parts):
    return os.path.relpath(os.path.join(*parts), HERE)


lib_sources = sorted(glob.glob(os.path.join(TOP, "src", "**", "*.c"),
                               recursive=True))
if not lib_sources:
    raise SystemExit("setup.py: the library sources (../src) are missing: "
                     "build from a shoal checkout")

version = {}
with open(os.path.join(TOP, "include", "shoal", "common.h")) as f:
    for line in f:
        for k in ("MAJOR", "MINOR", "PATCH"):
            if line.startswith("#define SHOAL_VERSION_" + k):
                version[k] = line.split()[2]

setup(
    name="shoal",
    version="%(MAJOR)s.%(MINOR)s.%(PATCH)s" % version,
    description="brokerless shared-memory IPC for Linux",
    packages=["shoal"],
    package_data={"shoal": ["*.pyi", "py.typed"]},
    ext_modules=[
        Extension(
            "shoal._shoal",
            sources=[rel(p) for p in sorted(glob.glob(
                os.path.join(HERE, "src", "*.c")))]
            + [rel(p) for p in lib_sources],
            include_dirs=[rel(TOP, "include"), rel(TOP, "src")],
            define_macros=[("_GNU_SOURCE", "")],
            extra_compile_args=["-std=c11", "-O2"],
        )
    ],
)
