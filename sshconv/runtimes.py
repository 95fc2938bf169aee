"""Runners: one small class per runtime, used as a context manager, same ``infer`` contract.

Modelled on Polygraphy's runners: ``with Runner(...) as r: outputs = r.infer(raw_bgr)``.
Every runner takes the **same raw input**, a ``float32`` array ``[1, 3, H, W]`` of BGR
pixel values 0..255 (what a camera pipeline hands the converted model), and returns
``{plain_output_name: np.ndarray}`` with the card's names (``rpn_cls_prob_reshape_stride32``,
...) in the card's order, whatever the runtime calls them (Model Optimizer's ``…:0``).

* :class:`MXNetRunner` is the reference. It does the original preprocessing itself,
  in NumPy (channels reversed to RGB, RGB mean subtracted), so the converted model's
  baked-in preprocessing is *checked* against it, not shared with it. It can also read
  intermediate tensors (``infer_internals``) for the first-divergence search.
* :class:`OpenVINORunner` runs an IR ``.xml`` (or an ``.onnx`` file, or an in-memory
  ``openvino.runtime.Model``) on the CPU plugin with ``INFERENCE_PRECISION_HINT`` pinned,
  and reports the precision the plugin actually used (:attr:`OpenVINORunner.precision_used`).

MXNet and OpenVINO are imported only when a runner is activated.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CheckpointError, ModelFileError
from .network import output_names as card_output_names
from .spec import InputSpec

log = logging.getLogger(__name__)

DEFAULT_INPUT = InputSpec()
#: OpenVINO CPU plugin values of INFERENCE_PRECISION_HINT, by the names sshconv uses.
PRECISION_HINTS = {"f32": "f32", "bf16": "bf16", "f16": "f16"}


def plain_name(name: str) -> str:
    """An output's card name: Model Optimizer's ``name:0`` and MXNet's ``name_output`` become ``name``."""
    name = name.split(":")[0]
    return name[: -len("_output")] if name.endswith("_output") else name


def check_raw_input(raw_bgr: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The input as C-contiguous float32 of exactly ``shape``, or a :class:`ModelFileError`."""
    arr = np.asarray(raw_bgr)
    if tuple(arr.shape) != tuple(shape):
        raise ModelFileError(
            f"input has shape {tuple(arr.shape)}, the model takes {tuple(shape)}; resize the image to "
            f"{shape[3]}x{shape[2]} and pass NCHW"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def reference_preprocess(
    raw_bgr: np.ndarray, mean_values: Sequence[float] = DEFAULT_INPUT.mean_values, reverse: bool = True
) -> np.ndarray:
    """What the original SSH code feeds MXNet: channels reversed (BGR -> RGB), then the mean subtracted.

    ``mean_values`` are in the network's channel order (RGB), as Model Optimizer's
    ``--mean_values`` are: MO reverses the channels first, then subtracts them.
    """
    x = np.asarray(raw_bgr, dtype=np.float32)
    if reverse:
        x = x[:, ::-1]
    mean = np.asarray(mean_values, dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(x - mean, dtype=np.float32)


class Runner:
    """Base: ``with runner: runner.infer(x)``; activation loads the framework and the model."""

    name = "runner"

    def __init__(self) -> None:
        self.is_active = False

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()

    def activate(self) -> None:
        if not self.is_active:
            self._activate()
            self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self._deactivate()
            self.is_active = False

    def _activate(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _deactivate(self) -> None:
        pass

    def _require_active(self) -> None:
        if not self.is_active:
            raise RuntimeError(f"{self.name}: use it as a context manager (or call activate()) before infer()")

    def infer(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------- MXNet


class MXNetRunner(Runner):
    """The MXNet checkpoint in ``checkpoint_dir`` (``sshb-symbol.json`` + ``sshb-0000.params``).

    ``infer(raw_bgr)`` preprocesses (reverse channels if ``reverse``, subtract
    ``mean_values``) and runs the six outputs. ``infer_internals(raw_bgr, names)`` returns
    intermediate tensors by MXNet name (``conv3_1``, ``relu4_3``, ...; ``_output`` optional),
    each from a freshly bound executor (MXNet's CPU backend caches weights after a forward,
    so a bound executor is never reused with other weights).
    """

    name = "mxnet"

    def __init__(
        self,
        checkpoint_dir: str | Path,
        input_shape: Sequence[int] = DEFAULT_INPUT.shape,
        mean_values: Sequence[float] = DEFAULT_INPUT.mean_values,
        reverse: bool = True,
        input_name: str = DEFAULT_INPUT.name,
    ) -> None:
        super().__init__()
        self.checkpoint_dir = Path(checkpoint_dir)
        self.input_shape = tuple(int(d) for d in input_shape)
        self.mean_values = tuple(float(m) for m in mean_values)
        self.reverse = reverse
        self.input_name = input_name
        self.checkpoint: Any = None
        self._executor: Any = None
        self.output_names: list[str] = []

    def _activate(self) -> None:
        import mxnet as mx

        from .checkpoint import load_checkpoint

        self.checkpoint = load_checkpoint(self.checkpoint_dir)
        sym = self.checkpoint.symbol
        self.output_names = [plain_name(n) for n in sym.list_outputs()]
        self._executor = self._bind(sym)
        self._mx = mx

    def _bind(self, sym):
        import mxnet as mx

        ckpt = self.checkpoint
        args = {n: ckpt.arg_params[n] for n in sym.list_arguments() if n != self.input_name}
        args[self.input_name] = mx.nd.zeros(self.input_shape)
        aux = {n: ckpt.aux_params[n] for n in sym.list_auxiliary_states()}
        try:
            return sym.bind(mx.cpu(), args=args, aux_states=aux, grad_req="null")
        except (mx.base.MXNetError, KeyError) as exc:
            raise CheckpointError(f"{self.checkpoint_dir}: cannot bind the graph for input {self.input_shape}: {exc}") from None

    def _deactivate(self) -> None:
        self._executor = None
        self.checkpoint = None

    def preprocess(self, raw_bgr: np.ndarray) -> np.ndarray:
        return reference_preprocess(check_raw_input(raw_bgr, self.input_shape), self.mean_values, self.reverse)

    def _forward(self, executor, raw_bgr: np.ndarray) -> list[np.ndarray]:
        x = self._mx.nd.array(self.preprocess(raw_bgr))
        outs = executor.forward(is_train=False, **{self.input_name: x})
        return [o.asnumpy() for o in outs]

    def infer(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        self._require_active()
        return dict(zip(self.output_names, self._forward(self._executor, raw_bgr)))

    def internal_names(self) -> list[str]:
        """Every intermediate tensor of the graph, in topological order, without ``_output``."""
        self._require_active()
        return [plain_name(n) for n in self.checkpoint.symbol.get_internals().list_outputs() if n.endswith("_output")]

    def infer_internals(self, raw_bgr: np.ndarray, names: Iterable[str]) -> dict[str, np.ndarray]:
        """Intermediate tensors ``{name: array}`` for the given MXNet node names."""
        self._require_active()
        internals = self.checkpoint.symbol.get_internals()
        available = set(internals.list_outputs())
        wanted = []
        for n in names:
            key = n if n.endswith("_output") else f"{n}_output"
            if key not in available:
                raise CheckpointError(f"{self.checkpoint_dir}: the graph has no tensor named {n!r}")
            wanted.append(key)
        if not wanted:
            return {}
        group = self._mx.sym.Group([internals[k] for k in wanted])
        # MXNet 1.9's MKLDNN subgraph pass fuses Convolution+ReLU even when the convolution's
        # output is itself requested, and then the ReLU output comes back unrectified (and
        # everything after it is wrong). Internals are read with graph fusion off.
        with _env(MXNET_SUBGRAPH_BACKEND="NONE", MXNET_SUBGRAPH_VERBOSE="0"):
            executor = self._bind(group)
            values = self._forward(executor, raw_bgr)
        return dict(zip([plain_name(k) for k in wanted], values))


# --------------------------------------------------------------------------- OpenVINO


class OpenVINORunner(Runner):
    """An OpenVINO model on the CPU plugin: an IR ``.xml`` (with its ``.bin``), an ``.onnx``, or an ``ov.Model``.

    ``precision`` pins ``INFERENCE_PRECISION_HINT`` (``"f32"``, ``"bf16"``; ``None`` keeps
    the plugin's default); :attr:`precision_used` is what the compiled model reports
    (a CPU without bf16 runs ``bf16`` requests in f32, and this says so).
    ``input_shape`` (``None``: the model's own) is checked against the model's input, or
    applied with ``reshape`` if the model is dynamic. ``expected_outputs`` (default: the
    card's six) must all be present, else :class:`ModelFileError`.
    """

    name = "openvino"

    def __init__(
        self,
        model: str | Path | Any,
        precision: str | None = "f32",
        input_shape: Sequence[int] | None = None,
        expected_outputs: Sequence[str] | None = None,
        extra_outputs: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if precision is not None and precision.lower() not in PRECISION_HINTS:
            raise ModelFileError(f"precision {precision!r}: expected one of {', '.join(PRECISION_HINTS)} or None")
        self.model_source = model
        self.model_path = None if _is_ov_model(model) else Path(model)
        self.precision = None if precision is None else PRECISION_HINTS[precision.lower()]
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.expected_outputs = list(card_output_names() if expected_outputs is None else expected_outputs)
        self.extra_outputs = list(extra_outputs)
        self.precision_used: str | None = None
        self.model: Any = None
        self.compiled: Any = None
        self._request: Any = None
        self._ports: list[tuple[str, Any]] = []

    @property
    def label(self) -> str:
        return str(self.model_path) if self.model_path else "in-memory model"

    def _activate(self) -> None:
        import openvino.runtime as ov

        core = ov.Core()
        model = self.model_source if self.model_path is None else read_openvino_model(core, self.model_path)
        model = check_model_contract(model, self.label, self.input_shape, self.expected_outputs)
        if self.extra_outputs:
            model = _with_extra_outputs(model, self.extra_outputs, self.label)
        self.model = model
        self.input_shape = tuple(model.inputs[0].get_partial_shape().to_shape())
        config = {} if self.precision is None else {"INFERENCE_PRECISION_HINT": self.precision}
        try:
            self.compiled = core.compile_model(model, "CPU", config)
        except RuntimeError as exc:
            raise ModelFileError(f"{self.label}: OpenVINO cannot compile it ({_first_line(exc)})") from None
        self.precision_used = _type_name(self.compiled.get_property("INFERENCE_PRECISION_HINT"))
        if self.precision and self.precision_used != self.precision:
            log.info("%s: asked for %s, the CPU plugin runs %s", self.label, self.precision, self.precision_used)
        names = self.expected_outputs + [n for n in self.extra_outputs if n not in self.expected_outputs]
        compiled_ports = {}
        for port in self.compiled.outputs:
            for n in port.get_names():
                compiled_ports.setdefault(plain_name(n), port)
        self._ports = [(n, compiled_ports[n]) for n in names]
        self._request = self.compiled.create_infer_request()

    def _deactivate(self) -> None:
        self._request = None
        self.compiled = None
        self.model = None

    def infer(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        self._require_active()
        x = check_raw_input(raw_bgr, self.input_shape)
        self._request.infer({0: x})
        return {n: np.array(self._request.get_tensor(p).data, copy=True) for n, p in self._ports}


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_model_contract(
    model, label: str, input_shape: Sequence[int] | None = None, expected_outputs: Sequence[str] | None = None
):
    """Check an ``ov.Model`` has one input of ``input_shape`` and every expected output; return it.

    A dynamic input is reshaped to ``input_shape`` (on a copy). Raises :class:`ModelFileError`
    naming what is wrong, so that a bad model is rejected before any inference runs.
    """
    expected = list(card_output_names() if expected_outputs is None else expected_outputs)
    if len(model.inputs) != 1:
        raise ModelFileError(f"{label}: has {len(model.inputs)} inputs, expected 1 (the image)")
    pshape = model.inputs[0].get_partial_shape()
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if pshape.is_dynamic:
            model = model.clone()
            model.reshape(list(shape))
        elif tuple(pshape.to_shape()) != shape:
            raise ModelFileError(
                f"{label}: input shape is {tuple(pshape.to_shape())}, expected {shape}; "
                "convert again with the right --input_shape"
            )
    elif pshape.is_dynamic:
        raise ModelFileError(f"{label}: input shape {pshape} is dynamic; pass an input shape")
    names = {plain_name(n) for port in model.outputs for n in port.get_names()}
    missing = [n for n in expected if n not in names]
    if missing:
        raise ModelFileError(
            f"{label}: missing output(s) {', '.join(missing)} (found {', '.join(sorted(names)) or 'none'}); "
            "this is not the SSH model, or it was cut at the wrong layers"
        )
    _check_output_shapes(model, label)
    return model


def _check_output_shapes(model, label: str) -> None:
    """Each card output has the shape the card gives for this input size (H/stride x W/stride)."""
    from .spec import default_outputs

    pshape = model.inputs[0].get_partial_shape()
    if pshape.is_dynamic or len(pshape) != 4:
        return
    height, width = (int(d) for d in list(pshape.to_shape())[2:])
    wanted = {o.name: o.shape for o in default_outputs(height, width)}
    for port in model.outputs:
        name = next((plain_name(n) for n in port.get_names() if plain_name(n) in wanted), None)
        if name is None or port.get_partial_shape().is_dynamic:
            continue
        got = tuple(int(d) for d in port.get_partial_shape().to_shape())
        if got != wanted[name]:
            raise ModelFileError(
                f"{label}: output {name} has shape {got}, expected {wanted[name]} for a {height}x{width} input; "
                "this is not the SSH model"
            )


def check_model_file(path: str | Path) -> Path:
    """Cheap checks of an IR/ONNX path before anything is loaded; one-line errors for each problem."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such file; pass the IR .xml (or .onnx) that `sshconv convert` wrote")
    if not path.is_file():
        raise ModelFileError(f"{path}: is a folder; pass the IR .xml (or .onnx) file inside it")
    suffix = path.suffix.lower()
    if suffix not in (".xml", ".onnx"):
        raise ModelFileError(f"{path}: expected an IR .xml or an .onnx file, got a {suffix or 'suffix-less'} file")
    if suffix == ".xml":
        head = path.read_bytes()[:512].lstrip()
        if not head.startswith(b"<"):
            raise ModelFileError(f"{path}: not an XML file; pass the IR .xml that `sshconv convert` wrote")
        if not path.with_suffix(".bin").is_file():
            raise ModelFileError(
                f"{path}: its weights {path.with_suffix('.bin').name} are missing; keep the .xml and .bin together"
            )
    return path


def ir_weight_precision(path: str | Path) -> str:
    """``FP16`` when an IR's weights are stored in half precision, else ``FP32`` (ONNX: FP32)."""
    path = Path(path)
    if path.suffix.lower() != ".xml":
        return "FP32"
    return "FP16" if 'element_type="f16"' in path.read_text(encoding="utf-8", errors="replace") else "FP32"


def read_openvino_model(core, path: str | Path):
    """``core.read_model`` with one-line errors for every way the file can be wrong."""
    path = check_model_file(path)
    try:
        return core.read_model(str(path))
    except RuntimeError as exc:
        raise ModelFileError(f"{path}: OpenVINO cannot read it ({_first_line(exc)}); convert it again") from None


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


def openvino_version() -> str:
    import openvino.runtime as ov

    return ov.get_version()


def mxnet_version() -> str:
    import mxnet as mx

    return mx.__version__


def _is_ov_model(obj: Any) -> bool:
    return type(obj).__name__ == "Model" and hasattr(obj, "get_ordered_ops")


def _type_name(t: Any) -> str:
    text = str(t)
    return {"float32": "f32", "f32": "f32", "bf16": "bf16", "bfloat16": "bf16", "float16": "f16", "f16": "f16"}.get(
        text.replace("<Type: '", "").replace("'>", ""), text
    )


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else exc.__class__.__name__)[:200]
