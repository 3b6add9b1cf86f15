"""Build the native WaveNet kernel (``rtaudio._wavenet``); all metadata lives in pyproject.toml.

Portable flags only (no -march=native): the kernel picks its AVX2 / AVX-512 path at run time.
-ffp-contract=off keeps all paths bitwise identical.
"""

import platform
import sys

from setuptools import Extension, setup

# -fno-trapping-math lets the clamps in exp vectorise (values unchanged); -Wno-psabi: the 64-byte
# vectors live inside always-inline helpers, so no ABI crosses a call
UNIX_FLAGS = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-Wno-psabi"]
flags = [] if sys.platform == "win32" else UNIX_FLAGS
if flags and platform.machine() in ("x86_64", "AMD64"):
    flags.append("-mprefer-vector-width=512")  # a tuning hint for the AVX-512 path; requires no ISA
setup(ext_modules=[Extension("rtaudio._wavenet", ["rtaudio/_wavenet.c"], extra_compile_args=flags)])
