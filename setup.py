"""Build the native WaveNet kernel (``rtaudio._wavenet``); all metadata lives in pyproject.toml.

Portable flags only (no -march=native): the kernel picks its AVX2 path at run time.
-ffp-contract=off keeps the baseline and AVX2 paths bitwise identical.
"""

import sys

from setuptools import Extension, setup

flags = [] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-math-errno"]
setup(ext_modules=[Extension("rtaudio._wavenet", ["rtaudio/_wavenet.c"], extra_compile_args=flags)])
