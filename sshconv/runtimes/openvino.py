"""OpenVINO: an IR ``.xml`` (with its ``.bin``), an ``.onnx`` file, or an in-memory model, on the CPU plugin.

:class:`OpenVINORunner` pins ``INFERENCE_PRECISION_HINT`` (the *execution* precision: the
CPU plugin runs bf16 by default on CPUs that have it) and reports what the plugin actually
used. Every model is checked against model.yml's contract before it runs
(:func:`check_model_contract`): one input of the expected shape, every output present with
the shape model.yml gives for that input size. OpenVINO is imported only as ``openvino``
(one code path for 2023.3 and for today's releases, which dropped ``openvino.runtime``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelFileError, first_line
from ..extras import EXECUTION
from ..model.spec import ModelSpec, plain_name
from .base import Runner, default_spec

log = logging.getLogger(__name__)

#: OpenVINO CPU plugin values of INFERENCE_PRECISION_HINT, by the names sshconv uses for execution precisions.
EXECUTION_HINTS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}


def opset():
    """OpenVINO's operation set for building graph edits (``openvino.opset10``; ``openvino.runtime.opset10`` before 2024)."""
    try:
        from openvino import opset10
    except ImportError:
        from openvino.runtime import opset10
    return opset10


class OpenVINORunner(Runner):
    """An OpenVINO model on the CPU plugin: an IR ``.xml`` (with its ``.bin``), an ``.onnx``, or an ``ov.Model``.

    ``execution`` pins ``INFERENCE_PRECISION_HINT`` (``"f32"``, ``"bf16"``; ``None`` keeps
    the plugin's default); :attr:`execution_used` is what the compiled model reports
    (a CPU without bf16 runs ``bf16`` requests in f32, and this says so).
    ``input_shape`` (``None``: the model's own; model.yml's for a model with dynamic axes) is applied
    with ``reshape`` where it is not the model's own (SSH takes any size and batch). ``spec``'s outputs (default: the
    packaged model.yml's) must all be present, with its shapes, else :class:`ModelFileError`.
    ``extra_outputs`` names intermediate tensors to return too. ``performance_hint``
    (``"LATENCY"``, the plugin's default, or ``"THROUGHPUT"``) sets ``PERFORMANCE_HINT``:
    with ``THROUGHPUT`` the plugin picks its number of streams, and :meth:`throughput`
    keeps its optimal number of asynchronous requests busy. ``threads`` caps the plugin's
    threads (``INFERENCE_NUM_THREADS``; ``None``: every core), for several workers on one machine.
    """

    name = "openvino"

    def __init__(
        self,
        model: str | Path | Any,
        spec: ModelSpec | None = None,
        execution: str | None = EXECUTION,
        input_shape: Sequence[int] | None = None,
        extra_outputs: Sequence[str] = (),
        performance_hint: str | None = None,
        threads: int | None = None,
    ) -> None:
        super().__init__(spec)
        if execution is not None and execution.lower() not in EXECUTION_HINTS:
            raise ModelFileError(f"execution {execution!r}: expected one of {', '.join(EXECUTION_HINTS)} or None")
        self.model_source = model
        self.model_path = None if _is_ov_model(model) else Path(model)
        self.execution = None if execution is None else EXECUTION_HINTS[execution.lower()]
        self.requested_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.extra_outputs = list(extra_outputs)
        self.performance_hint = performance_hint
        self.threads = threads
        self.execution_used: str | None = None
        self.model: Any = None
        self.compiled: Any = None
        self._request: Any = None
        self._ports: list[tuple[str, Any]] = []
        self._read: Any = None  # the model as read, before any reshape

    @property
    def label(self) -> str:
        return str(self.model_path) if self.model_path else "in-memory model"

    def _activate(self) -> None:
        import openvino as ov

        core = ov.Core()
        self._read = self.model_source if self.model_path is None else read_openvino_model(core, self.model_path)
        self._compile(core, self.requested_shape)

    def _reshape(self, shape: tuple[int, ...]) -> None:
        import openvino as ov

        self._request = self.compiled = self.model = None  # one compiled model at a time
        self._compile(ov.Core(), shape)

    def _compile(self, core, shape: Sequence[int] | None) -> None:
        if shape is None and self._read.inputs and self._read.inputs[0].get_partial_shape().is_dynamic:
            shape = self.spec.input.shape  # a file with dynamic axes (the ONNX file) starts at model.yml's shape
        model = check_model_contract(self._read, self.label, self.spec, shape)
        if self.extra_outputs:
            model = _with_extra_outputs(model, self.extra_outputs, self.label)
        self.model = model
        self.input_shape = tuple(model.inputs[0].get_partial_shape().to_shape())
        config = {} if self.execution is None else {"INFERENCE_PRECISION_HINT": self.execution}
        if self.performance_hint is not None:
            config["PERFORMANCE_HINT"] = self.performance_hint
        if self.threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        try:
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as exc:
            raise ModelFileError(f"{self.label}: OpenVINO cannot compile it ({first_line(exc)})") from None
        self.execution_used = precision_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        if self.execution and self.execution_used != self.execution:
            log.info("%s: asked for %s, the CPU plugin runs %s", self.label, self.execution, self.execution_used)
        expected = self.spec.output_names
        names = expected + [n for n in self.extra_outputs if n not in expected]
        compiled_ports = {}
        for port in self.compiled.outputs:
            for n in port.get_names():
                compiled_ports.setdefault(plain_name(n), port)
        self._ports = [(n, compiled_ports[n]) for n in names]
        self._request = self.compiled.create_infer_request()

    def throughput(self, frame: np.ndarray, seconds: float, min_frames: int = 1) -> dict[str, Any]:
        """Keep the plugin's optimal number of asynchronous requests busy on ``frame`` for ``seconds``.

        Returns ``frames`` done, ``elapsed_s``, each request's ``latencies_s``, and the
        ``streams`` and ``requests`` used. One untimed round warms every request up first.
        """
        import time

        self._require_active()
        frame = np.ascontiguousarray(frame, dtype=np.float32)
        n = int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        # Plain requests kept busy in turn, no Python callbacks: a callback needs the GIL on OpenVINO's
        # thread while the main thread may be waiting inside OpenVINO for a request to come free.
        requests = [self.compiled.create_infer_request() for _ in range(n)]
        for r in requests:  # one untimed round: first-run allocations
            r.start_async({0: frame})
        for r in requests:
            r.wait()
        latencies: list[float] = []
        started = [0.0] * n
        frames, t0 = 0, time.perf_counter()
        for i, r in enumerate(requests):
            started[i] = time.perf_counter()
            r.start_async({0: frame})
        i = 0
        while True:
            requests[i].wait()
            latencies.append(time.perf_counter() - started[i])
            frames += 1
            if frames + n > max(min_frames, n) and time.perf_counter() - t0 >= seconds:
                break
            started[i] = time.perf_counter()
            requests[i].start_async({0: frame})
            i = (i + 1) % n
        for j in range(1, n):  # the requests still in flight finish and count
            k = (i + j) % n
            requests[k].wait()
            latencies.append(time.perf_counter() - started[k])
            frames += 1
        elapsed = time.perf_counter() - t0
        streams = self.compiled.get_property("NUM_STREAMS")
        return {"frames": frames, "elapsed_s": elapsed, "latencies_s": latencies, "streams": int(streams), "requests": n}

    def _deactivate(self) -> None:
        self._request = None
        self.compiled = None
        self.model = None
        self._read = None

    def infer_impl(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        self._request.infer({0: raw_bgr})
        return {n: np.array(self._request.get_tensor(p).data, copy=True) for n, p in self._ports}


def check_model_contract(model, label: str, spec: ModelSpec | None = None, input_shape: Sequence[int] | None = None):
    """Check an ``ov.Model`` has one input (of ``input_shape``, if given) and ``spec``'s outputs; return it.

    A dynamic input is reshaped to ``input_shape`` (on a copy). Raises :class:`ModelFileError`
    naming what is wrong, so that a bad model is rejected before any inference runs.
    """
    spec = spec if spec is not None else default_spec()
    expected = spec.output_names
    if len(model.inputs) != 1:
        raise ModelFileError(f"{label}: has {len(model.inputs)} inputs, expected 1 (the image)")
    pshape = model.inputs[0].get_partial_shape()
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if pshape.is_dynamic or tuple(pshape.to_shape()) != shape:
            model = _reshaped(model, shape, label)
    elif pshape.is_dynamic:
        raise ModelFileError(f"{label}: input shape {pshape} is dynamic; pass an input shape")
    names = {plain_name(n) for port in model.outputs for n in port.get_names()}
    missing = [n for n in expected if n not in names]
    if missing:
        raise ModelFileError(
            f"{label}: missing output(s) {', '.join(missing)} (found {', '.join(sorted(names)) or 'none'}); "
            "this is not the SSH model, or it was cut at the wrong layers"
        )
    _check_output_shapes(model, label, spec)
    return model


def _reshaped(model, shape: tuple[int, ...], label: str):
    """A copy of ``model`` taking ``shape`` (SSH is fully convolutional: its IRs take any size and batch)."""
    before = model.inputs[0].get_partial_shape()
    model = model.clone()
    try:
        model.reshape({model.inputs[0]: list(shape)})
    except RuntimeError as exc:
        raise ModelFileError(
            f"{label}: OpenVINO cannot reshape its input {before} to {shape} ({first_line(exc)}); "
            "this model takes only its own input shape"
        ) from None
    return model


def _check_output_shapes(model, label: str, spec: ModelSpec) -> None:
    """Each output has the shape model.yml gives for this input size."""
    pshape = model.inputs[0].get_partial_shape()
    if pshape.is_dynamic or len(pshape) != 4:
        return
    batch, _, height, width = (int(d) for d in pshape.to_shape())
    wanted = {o.name: o.shape for o in spec.outputs_for(height, width, batch)}
    for port in model.outputs:
        name = next((plain_name(n) for n in port.get_names() if plain_name(n) in wanted), None)
        if name is None or port.get_partial_shape().is_dynamic:
            continue
        got = tuple(int(d) for d in port.get_partial_shape().to_shape())
        if got != wanted[name]:
            raise ModelFileError(
                f"{label}: output {name} has shape {got}, expected {wanted[name]} for a {batch}x{height}x{width} input; "
                "this is not the SSH model"
            )


#: The largest model files sshconv opens, judged by their size before anything is read (this network's own: an IR
#: .xml of 1 to 3 MB, weights of about 80 MB in the .bin or .onnx). Larger ones are not this model, and would take
#: memory in proportion: refused in one line.
MODEL_XML_LIMIT = 64 << 20
MODEL_WEIGHTS_LIMIT = 1 << 30


def check_model_file(path: str | Path) -> Path:
    """Cheap checks of an IR/ONNX path before anything is loaded (its kind, its size, its first bytes); one-line
    errors for each problem."""
    from ..fsutil import file_kind

    path = Path(path)
    kind = file_kind(path)
    if kind == "missing":
        raise ModelFileError(f"{path}: no such file; pass the IR .xml (or .onnx) that `sshconv convert` wrote")
    if kind != "file":
        raise ModelFileError(f"{path}: is a {kind}, not a model file; pass the IR .xml (or .onnx) that `sshconv convert` wrote")
    suffix = path.suffix.lower()
    if suffix not in (".xml", ".onnx"):
        raise ModelFileError(f"{path}: expected an IR .xml or an .onnx file, got a {suffix or 'suffix-less'} file")
    files = [(path, MODEL_XML_LIMIT if suffix == ".xml" else MODEL_WEIGHTS_LIMIT)]
    if suffix == ".xml":
        with open(path, "rb") as f:
            head = f.read(512).lstrip()
        if not head.startswith(b"<"):
            raise ModelFileError(f"{path}: not an XML file; pass the IR .xml that `sshconv convert` wrote")
        weights = path.with_suffix(".bin")
        if file_kind(weights) != "file":
            raise ModelFileError(f"{path}: its weights {weights.name} are missing; keep the .xml and .bin together")
        files.append((weights, MODEL_WEIGHTS_LIMIT))
    for file, limit in files:
        size = file.stat().st_size
        if size > limit:
            raise ModelFileError(f"{file}: {size:,} bytes, more than the {limit >> 20:,} MiB a model file of this network "
                                 "can be (its own are under 100 MB); pass the file `sshconv convert` wrote")  # fmt: skip
    return path


def ir_weights(path: str | Path) -> str:
    """``INT8`` for a quantized IR (it has FakeQuantize operations), ``FP16`` when its weights are stored in half
    precision, else ``FP32`` (ONNX: FP32)."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        return "FP32"
    text = path.read_text(encoding="utf-8", errors="replace")
    if 'type="FakeQuantize"' in text:
        return "INT8"
    return "FP16" if 'element_type="f16"' in text else "FP32"


def read_openvino_model(core, path: str | Path):
    """``core.read_model`` with one-line errors for every way the file can be wrong."""
    path = check_model_file(path)
    try:
        return core.read_model(str(path))
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: OpenVINO cannot read it ({first_line(exc)}); convert it again") from None


def _with_extra_outputs(model, names: Sequence[str], label: str):
    """A copy of ``model`` that also outputs the tensors named ``names`` (``name`` or ``name:0``)."""
    model = model.clone()
    tensors = {}
    for op in model.get_ordered_ops():
        for out in op.outputs():
            for n in out.get_names():
                tensors.setdefault(plain_name(n), out)
    missing = [n for n in names if plain_name(n) not in tensors]
    if missing:
        raise ModelFileError(f"{label}: no tensor named {', '.join(missing)}")
    model.add_outputs([tensors[plain_name(n)] for n in names])
    return model


def openvino_tensor_names(model) -> list[str]:
    """Plain names of the model's named tensors, in topological order (for matching MXNet internals)."""
    names = []
    for op in model.get_ordered_ops():
        if op.get_type_name() in ("Constant", "Parameter", "Result"):
            continue
        for out in op.outputs():
            for n in sorted(out.get_names()):
                p = plain_name(n)
                if p not in names:
                    names.append(p)
    return names


def rt_text(model, path: Sequence[str]) -> str:
    """A model's runtime info at ``path`` as text (an ``OVAny`` in some releases, a plain value in others)."""
    value = model.get_rt_info(list(path))
    return value.astype(str) if hasattr(value, "astype") else str(value)


def _is_ov_model(obj: Any) -> bool:
    return type(obj).__name__ == "Model" and hasattr(obj, "get_ordered_ops")


def precision_name(t: Any) -> str:
    """OpenVINO's element type or precision property as sshconv writes it: ``f32``, ``bf16``, ``f16``."""
    text = str(t)
    return {"float32": "f32", "f32": "f32", "bf16": "bf16", "bfloat16": "bf16", "float16": "f16", "f16": "f16"}.get(
        text.replace("<Type: '", "").replace("'>", ""), text
    )


#: Operations whose multiply-adds the FLOP count includes (everything else is a rounding error next to them).
_CONVOLUTIONS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData", "GroupConvolutionBackpropData")


def conv_gflops(model) -> float:
    """2 x the multiply-adds of every convolution of a static ``ov.Model``, in 1e9: the model card's count.

    A convolution costs output pixels x its kernel's taps x input channels per group; a transposed
    one spreads each input pixel over its kernel: input pixels x taps x output channels per group.
    The same count as :func:`sshconv.model.network.count_gflops` on MXNet's graph, at any input shape.
    """
    macs = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in _CONVOLUTIONS:
            continue
        x = [int(d) for d in op.input_value(0).get_partial_shape().to_shape()]
        w = [int(d) for d in op.input_value(1).get_partial_shape().to_shape()]
        y = [int(d) for d in op.output(0).get_partial_shape().to_shape()]
        grouped = kind.startswith("Group")
        groups, w = (w[0], w[1:]) if grouped else (1, w)
        taps = 1
        for k in w[2:]:
            taps *= k
        if kind.endswith("BackpropData"):  # weights [G,] C_in/G, C_out/G, k, k
            macs += x[0] * x[1] * x[2] * x[3] * (w[1] if grouped else w[1]) * taps
        else:  # weights [G,] C_out/G, C_in/G, k, k
            macs += y[0] * y[1] * y[2] * y[3] * w[1] * taps
    return 2 * macs / 1e9


def count_parameters(model) -> int:
    """The learned numbers of an FP32 ``ov.Model``: convolution weights and the biases added to their outputs.

    What MXNet counts as the network's parameters (the model card's MParams): the real-valued constants
    that convolutions take as weights, and those an ``Add`` puts on a convolution's output. The mean
    subtraction the conversion bakes in feeds no convolution, and is not counted.
    """
    import numpy as np

    def size(node) -> int:
        return int(np.prod([int(d) for d in node.get_output_shape(0)], dtype=np.int64))

    def constant(value):
        node = value.get_node()
        return node if node.get_type_name() == "Constant" and node.get_element_type().is_real() else None

    total = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind in _CONVOLUTIONS:
            weights = constant(op.input_value(1))
            total += size(weights) if weights is not None else 0
        elif kind == "Add":
            a, b = op.input_value(0).get_node(), op.input_value(1).get_node()
            for this, other in ((a, b), (b, a)):
                bias = constant(this.output(0)) if this.get_type_name() == "Constant" else None
                if bias is not None and other.get_type_name() in _CONVOLUTIONS:
                    total += size(bias)
    return total
