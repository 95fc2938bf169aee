"""What this machine can do at each execution precision: OpenVINO's own matrix multiply, timed.

An engine's GFLOP/s means little alone; held against the wrong ceiling it means worse (an INT8
model against an FP32 ceiling reads as "641 % of peak"). So each precision's ceiling is measured
the same way, with the runtime that runs the engines: large matrix multiplications compiled by
OpenVINO's CPU plugin, in each form the plugin has kernels for, the best kept:

* ``weights``: a square ``MatMul`` of activations by a constant weight (its fully-connected kernels);
* ``gemm``: a square ``MatMul`` of two inputs (its GEMM);
* ``conv``: the multiplication a 3x3 convolution is (implicit GEMM: 1,600 pixels x 4,608 taps by 4,608 x
  512 filters), six of them in a chain. On AVX-512 CPUs the plugin's convolution kernels outrun its
  ``MatMul`` ones by ~15 %, so a ``MatMul``-only ceiling is one a convolutional network passes (an FP32
  IR measured at 110 % of it here);

* ``f32``: ``INFERENCE_PRECISION_HINT=f32``;
* ``bf16``: ``INFERENCE_PRECISION_HINT=bf16`` (where the CPU has no bf16 the plugin runs f32, and
  the ceiling says so in ``execution_used``);
* ``int8``: both operands behind ``FakeQuantize`` (activations as u8, weights as i8), which the
  plugin runs as an INT8 matrix multiply, as it runs a quantized IR's layers;

timed in the benchmark's own mode (one request at a time with every core, or the throughput hint's
streams and requests), best run kept. Each engine is then reported against the ceiling of the
precision it executes in.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from ..versions import available_cores

#: Square matrices multiplied: large enough that the plugin's best kernels run at full speed.
CEILING_SIZES = (2048,)
FORMS = ("weights", "gemm", "conv")
#: The ``conv`` form: channels, feature-map side and chained layers.
CONV_CHANNELS, CONV_SIDE, CONV_LAYERS = 512, 40, 6
#: Seconds spent measuring each precision's ceiling (over every size and form), and the least a benchmark of fewer
#: seconds per engine spends on it (:func:`ceiling_seconds`).
CEILING_SECONDS = 2.0
CEILING_MIN_SECONDS = 0.5
MIN_RUNS = 3
PRECISIONS = ("f32", "bf16", "int8")


@dataclass
class Ceiling:
    """The best matrix-multiply throughput OpenVINO reaches here at one execution precision."""

    precision: str  # f32, bf16, int8: what was asked for
    execution_used: str  # what the plugin ran (bf16 on a CPU without it: f32)
    gflops_per_s: float  # 2 * size**3 per multiply (GOP/s for int8), the best size and form
    size: int  # the size (the conv form: its feature map's side) and form that reached it
    form: str
    cores: int
    mode: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fq(ops, node, low: float, high: float):
    """FakeQuantize to 256 levels over [low, high]: what makes the CPU plugin run the next multiply in INT8."""
    import numpy as np

    lo, hi = np.float32(low), np.float32(high)
    return ops.fake_quantize(node, lo, hi, lo, hi, 256).output(0)


def _conv_model(precision: str):
    """Six 3x3 convolutions (``CONV_CHANNELS`` in and out, ``CONV_SIDE`` square) with ReLUs: FLOP per run, model."""
    import numpy as np
    import openvino as ov

    from ..runtimes.openvino import opset

    ops = opset()
    rng = np.random.default_rng(0)
    c, side = CONV_CHANNELS, CONV_SIDE
    x = ops.parameter([1, c, side, side], np.float32, name="x")
    y = x.output(0)
    for _ in range(CONV_LAYERS):
        w = ops.constant((rng.standard_normal((c, c, 3, 3)) * 0.02).astype(np.float32)).output(0)
        if precision == "int8":  # activations as u8, weights as i8 (the ranges only decide the kernels, not the speed)
            y, w = _fq(ops, y, 0.0, 255.0), _fq(ops, w, -128.0, 127.0)
        y = ops.relu(ops.convolution(y, w, [1, 1], [1, 1], [1, 1], [1, 1])).output(0)
    flop = CONV_LAYERS * 2.0 * c * c * 9 * side * side
    return flop, ov.Model([ops.result(y)], [x], f"ceiling_{precision}_conv")


def _matmul_model(precision: str, size: int, form: str):
    import numpy as np
    import openvino as ov

    from ..runtimes.openvino import opset

    ops = opset()
    rng = np.random.default_rng(0)
    x = ops.parameter([size, size], np.float32, name="x")
    if form == "weights":
        w, inputs = ops.constant(rng.standard_normal((size, size)).astype(np.float32)), [x]
    else:
        w = ops.parameter([size, size], np.float32, name="y")
        inputs = [x, w]
    a, b = x.output(0), w.output(0)
    if precision == "int8":
        a, b = _fq(ops, a, 0.0, 255.0), _fq(ops, b, -128.0, 127.0)
    return 2.0 * size**3, ov.Model([ops.result(ops.matmul(a, b, False, False))], inputs, f"ceiling_{precision}_{form}")


def _time_matmul(precision: str, size: int, form: str, mode: str, seconds: float) -> tuple[float, str]:
    """Best GFLOP/s of one compiled matrix multiply over ``seconds`` (at least :data:`MIN_RUNS` runs), and the
    precision the plugin ran."""
    import numpy as np
    import openvino as ov

    from ..runtimes.openvino import precision_name

    hint = "f32" if precision == "int8" else precision  # int8: the FakeQuantize'd operands decide, the rest is f32
    config = {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "THROUGHPUT" if mode == "throughput" else "LATENCY"}
    flop, model = _conv_model(precision) if form == "conv" else _matmul_model(precision, size, form)
    compiled = ov.Core().compile_model(model, "CPU", config)
    used = "int8" if precision == "int8" else precision_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    rng = np.random.default_rng(1)
    n = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")) if mode == "throughput" else 1
    requests = [compiled.create_infer_request() for _ in range(n)]
    keep = []  # the inputs, set once and shared with the requests: no copy is timed
    for r in requests:
        for i, port in enumerate(compiled.inputs):
            keep.append(rng.uniform(0, 255, [int(d) for d in port.get_shape()]).astype(np.float32))
            r.set_input_tensor(i, ov.Tensor(keep[-1], shared_memory=True))
        r.infer()  # warm-up: first-run allocations and the thread pool
    best, runs = 0.0, 0
    deadline = time.perf_counter() + seconds
    while runs < MIN_RUNS or time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for r in requests:
            r.start_async()
        for r in requests:
            r.wait()
        best = max(best, n * flop / (time.perf_counter() - t0) / 1e9)
        runs += 1
    return best, used


def measure_ceiling(
    precision: str, mode: str = "latency", seconds: float = CEILING_SECONDS, sizes=CEILING_SIZES
) -> Ceiling:  # fmt: skip
    """The best of the ``precision`` multiplies: each size of ``sizes`` in the two ``MatMul`` forms, and the ``conv``
    form; ``seconds`` in all."""
    if isinstance(sizes, int):
        sizes = (sizes,)
    tries = [(size, form) for size in sizes for form in FORMS if form != "conv"] + [(CONV_SIDE, "conv")]
    best = Ceiling(precision, precision, 0.0, 0, "", available_cores(), mode)
    for size, form in tries:
        gflops, used = _time_matmul(precision, size, form, mode, seconds / len(tries))
        if gflops > best.gflops_per_s:
            best = Ceiling(precision, used, gflops, size, form, available_cores(), mode)
    return best


def ceiling_seconds(bench_seconds: float) -> float:
    """A ceiling is timed as long as each engine (a short benchmark is a rough one throughout), between
    :data:`CEILING_MIN_SECONDS` and :data:`CEILING_SECONDS`."""
    return min(CEILING_SECONDS, max(CEILING_MIN_SECONDS, bench_seconds))


def measure_ceilings(mode: str = "latency", seconds: float = CEILING_SECONDS, sizes=CEILING_SIZES) -> dict[str, Ceiling]:
    """Every precision's ceiling, :data:`PRECISIONS` order."""
    return {p: measure_ceiling(p, mode, seconds, sizes) for p in PRECISIONS}


def ceiling_key(execution: str | None, weights: str | None) -> str:
    """Which ceiling an engine is held against: an INT8 IR's is int8, else its execution precision's."""
    if weights == "INT8":
        return "int8"
    return "bf16" if (execution or "f32").lower() == "bf16" else "f32"
