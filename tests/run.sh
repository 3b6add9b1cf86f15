#!/usr/bin/env bash
# The README's test command: installs what the suite needs (Debian/Ubuntu, as root),
# creates .venv/ in the repo root, checks style, and runs the whole pytest suite.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  # libportaudio2: live mode; jackd2: the real JACK server the live tests start;
  # libsndfile1: soundfile on systems without its bundled copy
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3-venv libportaudio2 libsndfile1 jackd2 >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# torch is pinned: an unpinned torch pulls a multi-GB CUDA build
.venv/bin/pip install -q --disable-pip-version-check torch==2.13.0
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev,train,jack]'

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest "$@"
