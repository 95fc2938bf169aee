"""Versions of the tools that shape results, and the machine they ran on: probed here, once."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

#: Distributions whose versions go into manifests and reports.
TOOLS = ("sshconv", "mxnet", "onnx", "onnxruntime", "openvino", "openvino-dev", "nncf", "numpy", "protobuf")


def package_version(dist: str) -> str:
    """The installed version of distribution ``dist``, or ``not installed``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def tool_versions() -> dict[str, str]:
    """Python's version and every distribution of :data:`TOOLS` (installed or not)."""
    return {"python": ".".join(map(str, sys.version_info[:3])), **{d: package_version(d) for d in TOOLS}}


def openvino_version() -> str:
    """OpenVINO's own build string (more precise than the distribution's version)."""
    import openvino as ov

    return ov.get_version()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def engine_config(mode: str = "latency") -> dict[str, dict[str, str]]:
    """How the engines of this process are set up: what a speed-up between them holds for."""
    hint = (
        "THROUGHPUT: the plugin's own number of streams, its optimal number of asynchronous requests in flight"
        if mode == "throughput"
        else "LATENCY (the plugin's default), one inference at a time"
    )
    return {
        "mxnet": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset (one OpenMP thread)"),
                  "requests": "one at a time (batch 1, all its OpenMP threads)"},
        "openvino": {"device": "CPU", "PERFORMANCE_HINT": hint},
        "cores": str(available_cores()),
        "cpu_flags": cpu_flags(),
    }  # fmt: skip


#: CPU features that decide how fast INT8 and bf16 run.
CPU_FEATURES = ("avx2", "avx512f", "avx_vnni", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def cpu_flags() -> str:
    """Which of :data:`CPU_FEATURES` this CPU has (from /proc/cpuinfo), e.g. ``avx2 avx512_vnni amx_int8``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return " ".join(f for f in CPU_FEATURES if f in have) or "none of " + ", ".join(CPU_FEATURES)
    except OSError:
        pass
    return "unknown"


def environment() -> dict[str, str]:
    """What a report should say about where it was made: versions, platform, CPU."""
    env = {"sshconv": package_version("sshconv"), "python": sys.version.split()[0], "numpy": package_version("numpy"),
           "platform": platform.platform(), "cpu": cpu_name(), "cpu_flags": cpu_flags()}  # fmt: skip
    try:
        env["openvino"] = openvino_version()
    except ImportError:
        env["openvino"] = "not installed"
    if "mxnet" in sys.modules:
        env["mxnet"] = sys.modules["mxnet"].__version__
        env["mxnet OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "unset")
    return env
