"""How fast the converted detector runs here, next to MXNet and next to the machine's own limit.

One benchmark run times every engine on the same full-size raw-BGR frame:

* MXNet (the original checkpoint), when a checkpoint folder is known;
* each FP32 IR with FP32 execution (``INFERENCE_PRECISION_HINT=f32``) and with BF16
  execution (what the CPU plugin does by default on CPUs that have BF16; elsewhere
  the plugin falls back to FP32, and the result says which precision it really used);
* each FP16 IR (FP16-compressed weights) with FP32 execution;
* each INT8 IR (``sshconv quantize``): its quantized layers in INT8, the rest f32.

Two modes. ``latency`` (the default): one frame at a time, each engine warmed up, then
timed repeatedly for a time budget (with a minimum number of runs): the median latency
and its spread, and frames per second as its inverse. ``throughput``: frames per second
with the OpenVINO plugin's ``THROUGHPUT`` hint, its own number of streams and its optimal
number of asynchronous requests kept busy (what batch processing cares about); MXNet and
ONNX Runtime, which sshconv runs one request at a time, are timed as in latency mode.
Both give GFLOP/s from the model card's 267.06 GFLOP per frame, the speed-up over MXNet in
frames per second, and the ceiling: the FP32 matrix-multiply throughput that NumPy's BLAS
reaches on this machine with the cores it has.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engines import Engine, checkpoint_of, open_runner, plan_engines
from ..errors import UsageError, param
from ..events import Emitter, EventHandler
from ..model.network import CARD_GFLOPS
from ..versions import available_cores, engine_config

if TYPE_CHECKING:  # numpy loads when something is timed, so that `sshconv --help` stays light
    import numpy as np

log = logging.getLogger(__name__)

#: Seconds of timed runs per engine (after warm-up), unless told otherwise.
BENCH_SECONDS = 5.0
#: Every engine is timed at least this many times, whatever the budget.
MIN_REPEATS = 3
#: Untimed runs before timing (first-run allocations, caches, lazy compilation).
WARMUP_RUNS = 1
#: Square FP32 matrices multiplied to measure the machine's ceiling.
MATMUL_SIZE = 2048
#: Seconds spent measuring the matrix-multiply ceiling.
MATMUL_SECONDS = 2.0
#: The frame every engine runs: seeded raw BGR pixels 0..255.
FRAME_SEED = 0
MODES = ("latency", "throughput")


@dataclass
class CaseResult:
    """The timing of one engine on one frame."""

    name: str  # the engine's label, e.g. "ir/mo/FP32 bf16" (sshconv.engines)
    runtime: str  # "mxnet", "openvino" or "onnxruntime"
    model: str  # checkpoint folder or IR .xml
    weights: str | None  # how an IR stores its weights: FP32 / FP16; None for MXNet
    execution: str  # requested execution precision: "f32" or "bf16"
    effective_execution: str  # what the runtime reports it really used
    times_s: list[float]  # each timed frame's latency (throughput mode: each request's, start to callback)
    load_s: float
    speedup_vs_mxnet: float | None = None  # frames/s over MXNet's
    mode: str = "latency"
    frames: int = 0  # frames done in the timed part
    elapsed_s: float = 0.0  # wall seconds of the timed part
    streams: int = 1  # OpenVINO's streams (throughput mode), else 1
    requests: int = 1  # requests in flight at once

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def spread_s(self) -> float:
        """Half the distance between the fastest and the slowest timed run."""
        return (max(self.times_s) - min(self.times_s)) / 2

    @property
    def fps(self) -> float:
        """Frames per second: the inverse of the median latency; in throughput mode, frames over wall time."""
        if self.mode == "throughput" and self.elapsed_s > 0:
            return self.frames / self.elapsed_s
        return 1.0 / self.median_s

    @property
    def gflops_per_s(self) -> float:
        return CARD_GFLOPS * self.fps

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            median_s=self.median_s, spread_s=self.spread_s, min_s=min(self.times_s), max_s=max(self.times_s),
            repeats=len(self.times_s), fps=self.fps, gflops_per_s=self.gflops_per_s,
        )  # fmt: skip
        return d


@dataclass
class MatmulPeak:
    """The FP32 GEMM throughput NumPy's BLAS reaches here: the practical FP32 ceiling."""

    gflops_per_s: float
    size: int
    cores: int
    blas: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BenchResult:
    input_shape: tuple[int, ...]
    gflop_per_frame: float
    seconds_per_case: float
    matmul_peak: MatmulPeak
    cases: list[CaseResult] = field(default_factory=list)
    mode: str = "latency"
    #: How each engine was set up (MXNet's OpenMP threads, ...): speed-ups hold only for these.
    engine_config: dict[str, Any] = field(default_factory=dict)

    def case(self, name: str) -> CaseResult:
        for c in self.cases:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_shape": list(self.input_shape),
            "gflop_per_frame": self.gflop_per_frame,
            "seconds_per_case": self.seconds_per_case,
            "mode": self.mode,
            "matmul_peak": self.matmul_peak.to_dict(),
            "cases": [c.to_dict() for c in self.cases],
            "engine_config": self.engine_config,
        }


def _blas_name() -> str:
    import numpy as np

    try:
        info = np.__config__.get_info("blas_opt_info") or np.__config__.get_info("blas_ilp64_opt_info")
        libs = info.get("libraries") or []
        return libs[0] if libs else "unknown"
    except Exception:  # noqa: BLE001 - numpy's config API differs between versions; the name is cosmetic
        return "unknown"


def matmul_peak(seconds: float = MATMUL_SECONDS, size: int = MATMUL_SIZE) -> MatmulPeak:
    """The best FP32 ``size`` x ``size`` GEMM throughput (GFLOP/s) NumPy reaches within ``seconds``.

    One multiply is ``2 * size**3`` floating-point operations; BLAS uses every core it is
    allowed (the count is in the result). The best run is kept: it is the ceiling.
    """
    import numpy as np

    rng = np.random.default_rng(FRAME_SEED)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty((size, size), dtype=np.float32)
    np.matmul(a, b, out=out)  # warm-up: thread pool start, page faults
    flop = 2.0 * size**3
    best = 0.0
    deadline = time.perf_counter() + seconds
    runs = 0
    while runs < MIN_REPEATS or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        best = max(best, flop / (time.perf_counter() - t0) / 1e9)
        runs += 1
    return MatmulPeak(gflops_per_s=best, size=size, cores=available_cores(), blas=_blas_name())


def bench_frame(shape: tuple[int, ...]) -> np.ndarray:
    """The seeded raw-BGR frame (0..255, float32, NCHW) that every engine runs."""
    import numpy as np

    rng = np.random.default_rng(FRAME_SEED)
    return rng.integers(0, 256, size=shape).astype(np.float32)


def plan_bench(
    input_dir: str | Path | None = None,
    ir: str | Path | None = None,
    artifacts: str | Path | None = None,
    bf16: bool = True,
    mxnet: bool = True,
    routes: Sequence[str] | None = None,
    onnx: str | Path | None = None,
    runtime: str = "openvino",
) -> list[Engine]:
    """Which engines one benchmark times, MXNet first (the one plan of :mod:`sshconv.engines`).

    MXNet is timed when ``input_dir`` is given, or, with ``artifacts``, when the
    checkpoint folder named in its manifest still exists. A conversion folder's IRs are
    timed, and its ONNX file too when ``runtime`` is ``onnxruntime`` (through OpenVINO it
    would time the IR's twin again); ``bf16`` adds a bf16-execution twin of each FP32 model.
    """
    if sum(x is not None for x in (ir, artifacts, onnx)) != 1:
        raise UsageError(f"bench: pass exactly one of {param('ir')}, {param('onnx')} or {param('artifacts')}")
    if input_dir is None and artifacts is not None:
        input_dir = checkpoint_of(artifacts)
    kinds = ("ir", "onnx") if runtime == "onnxruntime" else ("ir",)
    return plan_engines(
        input_dir=input_dir if mxnet else None, artifacts=artifacts, irs=[ir] if ir is not None else [],
        onnx=[onnx] if onnx is not None else [], runtime=runtime, routes=routes, kinds=kinds, bf16=bf16,
    ).engines  # fmt: skip


def time_engine(
    engine: Engine, frame: np.ndarray, seconds: float, spec=None, on_run: Callable[[], None] | None = None,
    mode: str = "latency",
) -> CaseResult:  # fmt: skip
    """Load ``engine``, warm it up, then time runs for ``seconds`` (at least :data:`MIN_REPEATS`).

    In ``throughput`` mode an OpenVINO engine keeps its optimal number of requests busy instead.
    """
    t0 = time.perf_counter()
    with open_runner(engine, spec, mode=mode) as runner:
        load_s = time.perf_counter() - t0
        case = CaseResult(name=engine.label, runtime=engine.runtime, model=str(engine.path), weights=engine.weights,
                          execution=engine.execution, effective_execution=engine.execution, times_s=[], load_s=load_s,
                          mode=mode)  # fmt: skip
        if mode == "throughput" and engine.runtime == "openvino":
            got = runner.throughput(frame, seconds, MIN_REPEATS)
            case.times_s = got["latencies_s"]
            case.frames, case.elapsed_s, case.streams, case.requests = (
                got["frames"],
                got["elapsed_s"],
                got["streams"],
                got["requests"],
            )
        else:
            for _ in range(WARMUP_RUNS):
                runner.infer(frame)
            t_start = time.perf_counter()
            deadline = t_start + seconds
            while len(case.times_s) < MIN_REPEATS or time.perf_counter() < deadline:
                t = time.perf_counter()
                runner.infer(frame)
                case.times_s.append(time.perf_counter() - t)
                if on_run:
                    on_run()
            case.frames, case.elapsed_s = len(case.times_s), time.perf_counter() - t_start
        case.effective_execution = getattr(runner, "execution_used", None) or engine.execution
    log.info("%s: %.3f frames/s, median %.3f s over %d runs", engine.label, case.fps, case.median_s, len(case.times_s))
    return case


def run_bench(
    input_dir: str | Path | None = None,
    ir: str | Path | None = None,
    artifacts: str | Path | None = None,
    seconds: float = BENCH_SECONDS,
    spec=None,
    bf16: bool = True,
    mxnet: bool = True,
    routes: Sequence[str] | None = None,
    onnx: str | Path | None = None,
    runtime: str = "openvino",
    mode: str = "latency",
    json_report: str | Path | None = None,
    on_event: EventHandler | None = None,
) -> BenchResult:
    """Time MXNet (when ``input_dir`` is given) and the IR(s) on one full-size frame.

    ``mode`` is ``latency`` (one frame at a time) or ``throughput`` (OpenVINO's throughput
    hint with its streams and asynchronous requests).

    Give exactly one of ``ir`` (one .xml) or ``artifacts`` (a ``sshconv convert``
    output folder: every IR in it). ``mxnet=False`` skips MXNet; ``routes`` limits
    ``artifacts`` to those routes. ``json_report`` also writes the result there as JSON.
    Progress goes to ``on_event`` (stage ``bench``, in steps: the ceiling measurement, then one
    step per engine).
    """
    from ..model.parse import load_model_spec

    if seconds <= 0:
        raise UsageError(f"bench: {param('seconds')} must be > 0, got {seconds}")
    if mode not in MODES:
        raise UsageError(f"bench: {param('mode')} {mode!r}: expected one of {', '.join(MODES)}")
    if json_report is not None:
        from ..fsutil import ensure_dir

        ensure_dir(Path(json_report).parent, "JSON report folder")
    spec = spec or load_model_spec()
    engines = plan_bench(input_dir, ir, artifacts, bf16=bf16, mxnet=mxnet, routes=routes, onnx=onnx, runtime=runtime)
    total = len(engines) + 1
    emit = Emitter("bench", on_event)
    emit.start(total, item="FP32 matrix-multiply ceiling")
    peak = matmul_peak()
    result = BenchResult(tuple(spec.input.shape), CARD_GFLOPS, seconds, peak, mode=mode)
    frame = bench_frame(tuple(spec.input.shape))
    for i, engine in enumerate(engines, start=1):
        emit.progress(i, total, item=engine.label, force=True)
        result.cases.append(time_engine(engine, frame, seconds, spec=spec, mode=mode))
    result.engine_config = engine_config(mode)  # after the engines loaded: MXNet's threads are set when it loads
    emit("done", cases=len(result.cases))

    mx_case = next((c for c in result.cases if c.runtime == "mxnet"), None)
    if mx_case:
        for c in result.cases:
            c.speedup_vs_mxnet = c.fps / mx_case.fps
    if json_report is not None:
        import json

        from ..fsutil import atomic_write_text, no_space_left

        with no_space_left(Path(json_report).parent, "report folder"):
            atomic_write_text(Path(json_report), json.dumps(result.to_dict(), indent=2) + "\n")
    return result
