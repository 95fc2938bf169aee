"""How fast the converted detector runs here, next to MXNet and next to the machine's own limit.

One benchmark run times every engine on the same raw-BGR frame at each input shape asked for
(default model.yml's 1x3x640x640; ``shapes`` takes any batch and size, see :mod:`sshconv.model.shapes`):

* MXNet (the original checkpoint), when a checkpoint folder is known;
* each FP32 IR with FP32 execution (``INFERENCE_PRECISION_HINT=f32``) and with BF16
  execution (what the CPU plugin does by default on CPUs that have BF16; elsewhere
  the plugin falls back to FP32, and the result says which precision it really used);
* each FP16 IR (FP16-compressed weights) with FP32 execution;
* each INT8 IR (``sshconv quantize``): its quantized layers in INT8, the rest f32.

Two modes. ``latency`` (the default): one inference at a time, each engine warmed up, then
timed repeatedly for a time budget (with a minimum number of runs): the median latency
and its spread, and images per second as the batch over it. ``throughput``: images per second
with the OpenVINO plugin's ``THROUGHPUT`` hint, its own number of streams and its optimal
number of asynchronous requests kept busy (what batch processing cares about); MXNet and
ONNX Runtime, which sshconv runs one request at a time, are timed as in latency mode.
Both give GFLOP/s from the FLOPs at that shape (counted on the IR: :func:`frame_gflops`), the
speed-up over MXNet at the same shape, the process's peak memory while each engine ran, and
each engine's share of the ceiling of the precision it executes in (:mod:`.ceilings`).
"""

from __future__ import annotations

import contextlib
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
from ..model.shapes import check_shape, shape_text
from ..versions import cpu_name, engine_config
from .ceilings import Ceiling, ceiling_key, ceiling_seconds, measure_ceilings

if TYPE_CHECKING:  # numpy loads when something is timed, so that `sshconv --help` stays light
    import numpy as np

log = logging.getLogger(__name__)

#: Seconds of timed runs per engine (after warm-up), unless told otherwise.
BENCH_SECONDS = 5.0
#: Every engine is timed at least this many times, whatever the budget.
MIN_REPEATS = 3
#: Untimed runs before timing (first-run allocations, caches, lazy compilation).
WARMUP_RUNS = 1
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
    input_shape: tuple[int, ...] = (1, 3, 640, 640)  # N x 3 x H x W of one inference
    gflop_per_frame: float = CARD_GFLOPS  # per image, at this shape
    ceiling: str = "f32"  # the precision whose ceiling this engine is held against
    ceiling_gflops_per_s: float = float("nan")
    peak_rss_mb: float = float("nan")  # the process's peak resident memory while this engine loaded and ran
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256 of what ran (a bundle checks them)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s)

    @property
    def spread_s(self) -> float:
        """Half the distance between the fastest and the slowest timed run."""
        return (max(self.times_s) - min(self.times_s)) / 2

    @property
    def fps(self) -> float:
        """Images per second: the batch over the median latency; in throughput mode, images over wall time."""
        batch = int(self.input_shape[0])
        if self.mode == "throughput" and self.elapsed_s > 0:
            return batch * self.frames / self.elapsed_s
        return batch / self.median_s

    @property
    def gflops_per_s(self) -> float:
        return self.gflop_per_frame * self.fps

    @property
    def of_ceiling(self) -> float:
        """GFLOP/s over the measured ceiling of the precision this engine executes in."""
        return self.gflops_per_s / self.ceiling_gflops_per_s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(
            median_s=self.median_s, spread_s=self.spread_s, min_s=min(self.times_s), max_s=max(self.times_s),
            repeats=len(self.times_s), fps=self.fps, gflops_per_s=self.gflops_per_s, of_ceiling=self.of_ceiling,
        )  # fmt: skip
        return d


@dataclass
class BenchResult:
    shapes: list[tuple[int, ...]]
    seconds_per_case: float
    ceilings: dict[str, Ceiling]
    #: GFLOP per image at each shape (``1x3x720x1280``), counted on the model as OpenVINO reads it.
    gflop_per_frame: dict[str, float] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)
    mode: str = "latency"
    #: How each engine was set up (MXNet's OpenMP threads, ...): speed-ups hold only for these.
    engine_config: dict[str, Any] = field(default_factory=dict)
    cpu: str = ""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shapes[0]

    def case(self, name: str, shape: Sequence[int] | None = None) -> CaseResult:
        for c in self.cases:
            if c.name == name and (shape is None or tuple(c.input_shape) == tuple(shape)):
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shapes": [list(x) for x in self.shapes],
            "gflop_per_frame": self.gflop_per_frame,
            "seconds_per_case": self.seconds_per_case,
            "mode": self.mode,
            "cpu": self.cpu,
            "ceilings": {k: c.to_dict() for k, c in self.ceilings.items()},
            "cases": [c.to_dict() for c in self.cases],
            "engine_config": self.engine_config,
            "faces_overhead": faces_overhead(self),
        }


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
    """Load ``engine`` at ``frame``'s shape, warm it up, then time runs for ``seconds`` (at least :data:`MIN_REPEATS`).

    In ``throughput`` mode an OpenVINO engine keeps its optimal number of requests busy instead.
    """
    reset_peak_rss()
    t0 = time.perf_counter()
    with open_runner(engine, spec, mode=mode, input_shape=frame.shape) as runner:
        load_s = time.perf_counter() - t0
        case = CaseResult(name=engine.label, runtime=engine.runtime, model=str(engine.path), weights=engine.weights,
                          execution=engine.execution, effective_execution=engine.execution, times_s=[], load_s=load_s,
                          mode=mode, input_shape=tuple(frame.shape), files=dict(engine.files))  # fmt: skip
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
            time_steps(case, lambda: runner.infer(frame), seconds, on_run)
        case.effective_execution = getattr(runner, "execution_used", None) or engine.execution
    case.peak_rss_mb = peak_rss_mb()
    log.info("%s: %.3f frames/s, median %.3f s over %d runs", engine.label, case.fps, case.median_s, len(case.times_s))
    return case


def time_steps(case: CaseResult, step: Callable[[], Any], seconds: float, on_run: Callable[[], None] | None = None) -> None:
    """Warm ``step`` up, then time it for ``seconds`` (at least :data:`MIN_REPEATS` times) into ``case``."""
    for _ in range(WARMUP_RUNS):
        step()
    t_start = time.perf_counter()
    deadline = t_start + seconds
    while len(case.times_s) < MIN_REPEATS or time.perf_counter() < deadline:
        t = time.perf_counter()
        step()
        case.times_s.append(time.perf_counter() - t)
        if on_run:
            on_run()
    case.frames, case.elapsed_s = len(case.times_s), time.perf_counter() - t_start


def time_frame_to_faces(engine: Engine, frame: np.ndarray, seconds: float, spec) -> CaseResult:
    """Frame (uint8, N x H x W x 3) to faces, everything included: a faces artifact in one call, or a raw model
    with sshconv's Python decoder (layout, inference, decoding and NMS of every frame of the batch)."""
    import numpy as np

    from ..detection.decode import DecodeConfig, decode
    from ..runtimes.faces import FacesRunner

    frames = np.ascontiguousarray(np.clip(np.rint(frame), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))
    faces = engine.artifact.startswith("faces/")
    name = engine.label if faces else f"{engine.label} + decoder"
    reset_peak_rss()
    t0 = time.perf_counter()
    opened = FacesRunner(engine.path, runtime=engine.runtime) if faces else open_runner(engine, spec, input_shape=frame.shape)
    with opened as runner:
        case = CaseResult(name=name, runtime=engine.runtime, model=str(engine.path), weights=engine.weights,
                          execution=engine.execution, effective_execution=engine.execution, times_s=[],
                          load_s=time.perf_counter() - t0, input_shape=tuple(frame.shape),
                          files=dict(engine.files))  # fmt: skip
        n, h, w = frames.shape[:3]
        config = DecodeConfig.for_spec(spec)

        def python_decoder() -> None:
            outputs = runner.infer(np.ascontiguousarray(frames.transpose(0, 3, 1, 2).astype(np.float32)))
            for i in range(n):
                decode(outputs, (h, w), config, image=i)

        time_steps(case, (lambda: runner.infer_frames(frames)) if faces else python_decoder, seconds)
        case.effective_execution = getattr(runner, "execution_used", None) or engine.execution
    case.peak_rss_mb = peak_rss_mb()
    return case


_PURPOSES = {"mxnet": "timing the MXNet checkpoint", "onnxruntime": "timing the ONNX file with ONNX Runtime"}


def _require_frameworks(engines: Sequence[Engine]) -> None:
    """Import each framework the planned engines run on (OpenVINO is always there), or name its extra."""
    from ..extras import require

    for runtime in dict.fromkeys(e.runtime for e in engines):
        if runtime in _PURPOSES:
            require(runtime, _PURPOSES[runtime])


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
    shapes: Sequence[Sequence[int]] | None = None,
    faces: bool = False,
) -> BenchResult:
    """Time MXNet (when ``input_dir`` is given) and the IR(s) on one frame at each of ``shapes`` (default model.yml's).

    ``mode`` is ``latency`` (one frame at a time) or ``throughput`` (OpenVINO's throughput
    hint with its streams and asynchronous requests).

    Give exactly one of ``ir`` (one .xml) or ``artifacts`` (a ``sshconv convert``
    output folder: every IR in it). ``mxnet=False`` skips MXNet; ``routes`` limits
    ``artifacts`` to those routes. ``json_report`` also writes the result there as JSON.
    Progress goes to ``on_event`` (stage ``bench``, in steps: the ceiling measurement, then one
    step per engine). ``faces`` (with ``artifacts``) also times frame to faces, per shape: each faces
    artifact the folder lists, and each raw model with a faces twin plus sshconv's Python decoder
    (``<label> + decoder``); ``faces_overhead`` in the result compares them.
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
    shapes = [check_shape(x) for x in (shapes or [spec.input.shape])]
    engines = plan_bench(input_dir, ir, artifacts, bf16=bf16, mxnet=mxnet, routes=routes, onnx=onnx, runtime=runtime)
    to_faces = _faces_plan(artifacts, engines, routes, runtime) if faces else []
    _require_frameworks(engines + to_faces)  # a missing extra is said before the ceilings take their seconds
    total = (len(engines) + len(to_faces)) * len(shapes) + 1
    emit = Emitter("bench", on_event)
    emit.start(total, item="matrix-multiply ceilings (f32, bf16, int8)")
    result = BenchResult(shapes, seconds, measure_ceilings(mode, ceiling_seconds(seconds)), mode=mode, cpu=cpu_name())
    step = 1
    for shape in shapes:
        key = shape_text(shape)
        frame = bench_frame(shape)
        here = []
        for engine in engines:
            emit.progress(step, total, item=f"{engine.label} @ {key}", force=True)
            case = time_engine(engine, frame, seconds, spec=spec, mode=mode)
            case.ceiling = ceiling_key(case.effective_execution, engine.weights)
            case.ceiling_gflops_per_s = result.ceilings[case.ceiling].gflops_per_s
            here.append(case)
            step += 1
        for engine in to_faces:
            emit.progress(step, total, item=f"{engine.label} frame to faces @ {key}", force=True)
            case = time_frame_to_faces(engine, frame, seconds, spec)
            case.ceiling = ceiling_key(case.effective_execution, engine.weights)
            case.ceiling_gflops_per_s = result.ceilings[case.ceiling].gflops_per_s
            here.append(case)
            step += 1
        # Counted once the engines have opened their files: a bad file is their one-line error, not OpenVINO's.
        result.gflop_per_frame[key] = frame_gflops(engines, shape)
        for case in here:
            case.gflop_per_frame = result.gflop_per_frame[key]
        result.cases += here
    result.engine_config = engine_config(mode)  # after the engines loaded: MXNet's threads are set when it loads
    emit("done", cases=len(result.cases))

    for shape in shapes:
        here = [c for c in result.cases if tuple(c.input_shape) == tuple(shape)]
        mx_case = next((c for c in here if c.runtime == "mxnet"), None)
        for c in here if mx_case else ():
            c.speedup_vs_mxnet = c.fps / mx_case.fps
    if json_report is not None:
        import json

        from ..fsutil import atomic_write_text, no_space_left

        with no_space_left(Path(json_report).parent, "report folder"):
            atomic_write_text(Path(json_report), json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _faces_plan(artifacts, engines: Sequence[Engine], routes, runtime: str) -> list[Engine]:
    """Each raw model of the plan that has a faces twin (f32 execution), then the twins themselves."""
    if artifacts is None:
        raise UsageError(f"bench: {param('faces')} times the faces artifacts of {param('artifacts')}; pass the folder")
    kinds = ("ir", "onnx") if runtime == "onnxruntime" else ("ir",)
    twins = plan_engines(artifacts=artifacts, routes=routes, runtime=runtime, kinds=kinds, faces=True).faces
    if not twins:
        raise UsageError(f"bench: {artifacts} lists no faces artifacts; convert (or quantize) with faces artifacts first")
    labels = {t.artifact.removeprefix("faces/") for t in twins}
    raw = [e for e in engines if e.artifact in labels and e.execution == "f32" and not e.is_reference]
    return raw + list(twins)


def faces_overhead(result: BenchResult) -> list[dict[str, Any]]:
    """Per faces artifact and shape: its frame-to-faces time over its raw model's inference alone, and the Python route's."""
    rows = []
    for case in result.cases:
        if not case.name.startswith("faces/"):
            continue
        raw_label = case.name.removeprefix("faces/")
        try:
            alone = result.case(raw_label, case.input_shape)
            python = result.case(f"{raw_label} + decoder", case.input_shape)
        except KeyError:
            continue
        rows.append({"faces": case.name, "shape": shape_text(case.input_shape), "network_s": alone.median_s,
                     "faces_s": case.median_s, "decoder_s": python.median_s,
                     "faces_overhead": case.median_s / alone.median_s - 1,
                     "decoder_overhead": python.median_s / alone.median_s - 1})  # fmt: skip
    return rows


def frame_gflops(engines: Sequence[Engine], shape: Sequence[int]) -> float:
    """GFLOP per image at ``shape``, counted on the first OpenVINO-readable model of the plan (the card's way)."""
    import openvino as ov

    from ..runtimes.openvino import conv_gflops, read_openvino_model

    path = next((e.path for e in engines if e.runtime != "mxnet"), None)
    if path is None:
        return CARD_GFLOPS
    model = read_openvino_model(ov.Core(), path)
    model.reshape({model.inputs[0]: list(shape)})
    return conv_gflops(model) / int(shape[0])


def reset_peak_rss() -> None:
    """Start a new peak-memory window (Linux: ``/proc/self/clear_refs``); elsewhere the process's peak stays."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mb() -> float:
    """The process's peak resident memory (MB) since :func:`reset_peak_rss` (Linux), else since it started."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
