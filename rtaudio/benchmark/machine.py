"""The machine and process facts a bench report records: CPU, cores, load, memory, versions, peak RSS."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


#: instruction-set extensions that change ONNX Runtime's and torch's CPU kernels
_CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def _cpuinfo(field_name: str) -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(field_name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (``platform.processor()`` elsewhere)."""
    return _cpuinfo("model name") or platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """The machine a report was measured on: CPU, cores, load, memory, library versions."""
    import onnxruntime as ort

    from rtaudio import __version__

    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {
        "cpu_model": cpu_model(),
        "cpu_features": [f for f in _CPU_FEATURES if f in (_cpuinfo("flags") or "").split()],
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        # other work on the machine (a training run) slows every figure: say so
        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None,
        "memory_gb": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "rtaudio": __version__,
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "soxr": _version("soxr"),
        "soundfile": _version("soundfile"),
        "torch": _version("torch"),  # read from metadata: torch is never imported here
    }


def reset_peak_rss() -> bool:
    # Linux: writing 5 to clear_refs resets VmHWM, so each case gets its own peak
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process since the last reset (VmHWM), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    except (ImportError, OSError):
        return None
