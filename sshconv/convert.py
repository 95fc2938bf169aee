"""MXNet checkpoint -> OpenVINO IR, by two routes, with the input preprocessing baked in.

Routes:

* ``mo``: Model Optimizer's MXNet front end (``openvino.tools.mo.convert_model``), driven by
  model.yml's ``model_optimizer_args`` with ``$dl_dir`` replaced by the checkpoint folder.
* ``onnx``: MXNet's own exporter (``mx.onnx.export_model``) writes ONNX, the channel reversal
  and mean subtraction are put in front of the graph, and OpenVINO's converter
  (``openvino.convert_model``) turns that ONNX file into IR.

Both IRs, and the ONNX file, take **raw BGR pixels 0..255, NCHW** in one input and give the
six outputs under the plain names of the model card, in the card's order.

Output layout (``O`` is ``output_dir``)::

    O/ir/{mo,onnx}/{FP32,FP16}/ssh-mxnet.{xml,bin}
    O/onnx/ssh-mxnet.onnx
    O/manifest.json

Nothing appears at a final path until it is complete: every file is written under a
temporary name in its own folder and renamed (:func:`sshconv.fsutil.atomic_path`).

Speed. MXNet's exporter builds every weight with ``onnx.helper.make_tensor(vals=list)``;
with the pure-Python protobuf that ``openvino-dev[onnx]`` pins on Python 3.11 (3.20.x,
no compiled wheel), each of the 19.7 M floats is type-checked and encoded one at a time
(about 19 s, and 200 s under a profiler, 1.5 GB). We register a converter for MXNet's
weight nodes (``null``) that stores each weight as one raw byte string instead: the same
tensor values, the export drops to about a second.

Determinism. Model Optimizer and OpenVINO name generated layers with a process-wide
counter (``Subtract_434``, ``conv1_1/Dims1492``) that differs from run to run; the
weights do not. Generated names are rewritten to stable ones (:func:`_stable_layer_names`)
so that converting the same checkpoint twice gives byte-identical artifacts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .checkpoint import PARAMS_FILE, SYMBOL_FILE, Checkpoint, load_checkpoint
from .errors import CheckpointError, IntegrityError, ModelFileError, SpecError, UsageError
from .fsutil import atomic_path, atomic_write_text, ensure_dir, sha256_file
from .spec import ModelSpec, substitute_dl_dir

log = logging.getLogger(__name__)

ROUTES = ("mo", "onnx")
PRECISIONS = ("FP32", "FP16")
#: Base name of every artifact.
ARTIFACT_NAME = "ssh-mxnet"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "sshconv-convert-manifest/1"
#: H and W of --input-shape must be multiples of this (the coarsest stride, 32).
INPUT_SHAPE_MULTIPLE = 32
INPUT_LAYOUT = "NCHW"
INPUT_CHANNEL_ORDER = "BGR"
INPUT_VALUE_RANGE = (0, 255)
#: ONNX opset of mxnet 1.9's newest converters; the exported file declares it.
ONNX_OPSET = 13
#: Model Optimizer arguments that :func:`convert` decides itself (output place and precision).
_MO_ARGS_WE_SET = {"output_dir", "model_name", "data_type", "compress_to_fp16", "framework", "input_model"}

#: Fields of the manifest that differ between two conversions of the same checkpoint, and why.
VARYING_FIELDS = {
    "timings": "wall-clock seconds of this run; they depend on the machine and its load",
    "source.folder": "the checkpoint folder of this run (absolute path)",
    "output_dir": "the output folder of this run (absolute path)",
}

#: Receives one dict per finished step, ``{"event": NAME, ...}``, as the downloader's ``on_event`` does.
EventCallback = Callable[[dict], None]


# --------------------------------------------------------------------------- options


def parse_input_shape(shape: str | Sequence[int] | None, default: Sequence[int]) -> tuple[int, ...]:
    """``1,3,H,W`` (text or numbers) as a tuple, H and W positive multiples of 32; else :class:`UsageError`."""
    if shape is None:
        shape = default
    text = shape if isinstance(shape, str) else ",".join(str(d) for d in shape)
    fix = f"pass --input-shape 1,3,H,W with H and W multiples of {INPUT_SHAPE_MULTIPLE}, e.g. 1,3,640,640"
    try:
        dims = tuple(int(d) for d in text.replace(" ", "").strip("[]()").split(","))
    except ValueError:
        raise UsageError(f"--input-shape {text!r}: not four integers; {fix}") from None
    if len(dims) != 4:
        raise UsageError(f"--input-shape {text!r}: {len(dims)} dimensions, expected 4 (N,C,H,W); {fix}")
    n, c, h, w = dims
    if n != 1 or c != 3:
        raise UsageError(f"--input-shape {text!r}: N,C must be 1,3 (one BGR image), got {n},{c}; {fix}")
    for axis, v in (("H", h), ("W", w)):
        if v <= 0 or v % INPUT_SHAPE_MULTIPLE:
            raise UsageError(f"--input-shape {text!r}: {axis}={v} is not a positive multiple of {INPUT_SHAPE_MULTIPLE}; {fix}")
    return dims


def default_input_dir() -> Path:
    """Where ``sshconv download`` puts the checkpoint by default, if it is there; else :class:`UsageError`."""
    from .download import default_output_dir

    folder = default_output_dir()
    if not (folder / SYMBOL_FILE).exists() and not (folder / PARAMS_FILE).exists():
        raise UsageError(
            f"--input-dir not given and the download folder {folder} holds no checkpoint; "
            "run `sshconv download` first, or pass --input-dir D (e.g. from `sshconv synth --output-dir D`)"
        )
    return folder


def _choices(values: str | Iterable[str], allowed: tuple[str, ...], what: str, flag: str) -> tuple[str, ...]:
    """The chosen values in ``allowed``'s order; ``all`` means every one; anything else is a :class:`UsageError`."""
    values = (values,) if isinstance(values, str) else tuple(values)
    canonical = {a.lower(): a for a in allowed}
    picked: set[str] = set()
    for v in values:
        if v.lower() == "all":
            picked.update(allowed)
        elif v.lower() in canonical:
            picked.add(canonical[v.lower()])
        else:
            raise UsageError(f"{flag} {v!r}: unknown {what}; choose from {', '.join(allowed)} or all")
    if not picked:
        raise UsageError(f"{flag}: no {what} chosen; choose from {', '.join(allowed)} or all")
    return tuple(a for a in allowed if a in picked)


# --------------------------------------------------------------------------- the conversion


def convert(
    spec: ModelSpec,
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    via: str | Iterable[str] = ("mo", "onnx"),
    precisions: str | Iterable[str] = ("FP32", "FP16"),
    input_shape: str | Sequence[int] | None = None,
    on_event: EventCallback | None = None,
) -> dict[str, Any]:
    """Convert the checkpoint in ``input_dir`` to IR in ``output_dir``; return the manifest.

    ``via`` picks the routes (``mo``, ``onnx`` or ``all``), ``precisions`` the IR weight
    precisions (``FP32``, ``FP16``: weights compressed to FP16, or ``all``), ``input_shape``
    the IR's input shape (default: model.yml's). ``on_event({"event": NAME, ...})``, if given,
    is called as steps finish (``checkpoint``, ``artifact``, ``route``, ``manifest``).
    The manifest is also written to ``output_dir/manifest.json``.
    """
    t_start = time.perf_counter()
    routes = _choices(via, ROUTES, "route", "--via")
    precs = _choices(precisions, PRECISIONS, "precision", "--precision")
    shape = parse_input_shape(input_shape, spec.input.shape)

    def emit(event: str, detail: dict) -> None:
        if on_event is not None:
            on_event({"event": event, **detail})

    input_dir = Path(input_dir)
    t0 = time.perf_counter()
    ckpt = load_checkpoint(input_dir, expected_outputs=[o.name for o in spec.outputs])
    outputs = _output_shapes(spec, ckpt, shape)
    source = {
        "folder": str(input_dir.absolute()),
        "files": {name: {"sha256": digest, "size": (input_dir / name).stat().st_size} for name, digest in ckpt.hashes().items()},
    }
    timings: dict[str, float] = {"load_checkpoint": time.perf_counter() - t0}
    emit("checkpoint", {"folder": str(input_dir), "seconds": timings["load_checkpoint"]})

    out = ensure_dir(output_dir)
    # A manifest from an earlier run would describe files this run is about to replace:
    # remove it first, so that a folder without manifest.json reads as "incomplete".
    with contextlib.suppress(FileNotFoundError):
        (out / MANIFEST_NAME).unlink()
    artifacts: list[dict[str, Any]] = []

    def record(path: Path, route: str, precision: str, kind: str) -> None:
        entry = {
            "path": path.relative_to(out).as_posix(),
            "kind": kind,
            "route": route,
            "precision": precision,
            "size": path.stat().st_size,
            "sha256": sha256_file(path),
        }
        artifacts.append(entry)
        emit("artifact", dict(entry))

    if "mo" in routes:
        t0 = time.perf_counter()
        model = _mo_model(spec, input_dir, shape)
        _finish_ir_model(model, spec, outputs, _mxnet_names(ckpt))
        for prec in precs:
            _save_ir(model, out / "ir" / "mo" / prec, prec, record, "mo")
        timings["mo"] = time.perf_counter() - t0
        emit("route", {"route": "mo", "seconds": timings["mo"]})

    if "onnx" in routes:
        t0 = time.perf_counter()
        onnx_path = out / "onnx" / f"{ARTIFACT_NAME}.onnx"
        onnx_names = _export_onnx(ckpt, spec, shape, outputs, onnx_path)
        record(onnx_path, "onnx", "FP32", "onnx")
        timings["onnx_export"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        model = _onnx_to_ov(onnx_path)
        _finish_ir_model(model, spec, outputs, onnx_names)
        for prec in precs:
            _save_ir(model, out / "ir" / "onnx" / prec, prec, record, "onnx")
        timings["onnx_to_ir"] = time.perf_counter() - t1
        timings["onnx"] = time.perf_counter() - t0
        emit("route", {"route": "onnx", "seconds": timings["onnx"]})

    timings["total"] = time.perf_counter() - t_start
    manifest = {
        "format": MANIFEST_FORMAT,
        "model": ARTIFACT_NAME,
        "model_yml": str(spec.path),
        "output_dir": str(out.absolute()),
        "routes": list(routes),
        "precisions": list(precs),
        "input": {
            "name": spec.input.name,
            "shape": list(shape),
            "layout": INPUT_LAYOUT,
            "channel_order": INPUT_CHANNEL_ORDER,
            "value_range": list(INPUT_VALUE_RANGE),
            "element_type": "f32",
            "mean_values": list(spec.input.mean_values),
            "mean_values_order": "RGB" if spec.input.reverse_input_channels else INPUT_CHANNEL_ORDER,
            "reverse_input_channels": spec.input.reverse_input_channels,
            "preprocessing": _preprocessing_text(spec),
        },
        "outputs": [{"name": name, "shape": list(s)} for name, s in outputs],
        "source": source,
        "artifacts": artifacts,
        "precision_meaning": {"FP32": "weights stored as FP32", "FP16": "weights compressed to FP16 (compress_to_fp16)"},
        "tools": tool_versions(),
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "reproducibility": {
            "artifacts": "byte-identical when the same checkpoint is converted with the same options and tool versions",
            "varying_fields": dict(VARYING_FIELDS),
        },
    }
    atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=2) + "\n")
    emit("manifest", {"path": str(out / MANIFEST_NAME)})
    return manifest


def _preprocessing_text(spec: ModelSpec) -> str:
    steps = []
    if spec.input.reverse_input_channels:
        steps.append("reverse channels BGR -> RGB")
    if spec.input.mean_values:
        steps.append(f"subtract mean {list(spec.input.mean_values)}")
    return "; ".join(steps) or "none"


def _output_shapes(spec: ModelSpec, ckpt: Checkpoint, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Each output's name and shape for ``shape``, in model.yml's order; checked against model.yml."""
    from .network import output_shapes

    try:
        found = dict(output_shapes(ckpt.symbol, shape))
    except Exception as exc:  # MXNetError: the graph does not accept this shape
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise CheckpointError(f"{ckpt.symbol_path}: cannot infer output shapes for input {list(shape)} ({first})") from None
    if tuple(shape) == tuple(spec.input.shape):
        for o in spec.outputs:
            if tuple(found[o.name]) != tuple(o.shape):
                raise CheckpointError(
                    f"{ckpt.symbol_path}: output {o.name} has shape {list(found[o.name])} for input {list(shape)}, "
                    f"model.yml expects {list(o.shape)}; this is a different network (or model.yml's `outputs` is wrong)"
                )
    return [(o.name, tuple(found[o.name])) for o in spec.outputs]


def _mxnet_names(ckpt: Checkpoint) -> set[str]:
    return {node["name"] for node in json.loads(ckpt.symbol.tojson())["nodes"]}


# --------------------------------------------------------------------------- route: Model Optimizer


def mo_arguments(spec: ModelSpec, input_dir: Path, shape: Sequence[int]) -> dict[str, Any]:
    """model.yml's ``model_optimizer_args`` as keyword arguments of ``openvino.tools.mo.convert_model``.

    ``--flag`` becomes ``flag=True``, ``--key=value`` becomes ``key="value"``; ``$dl_dir``
    is the checkpoint folder; the input shape is ``shape``. Output folder and precision
    are decided by :func:`convert`, so such arguments are ignored (with a debug log).
    """
    kwargs: dict[str, Any] = {}
    for arg in substitute_dl_dir(spec.model_optimizer_args, input_dir):
        if not arg.startswith("--"):
            raise SpecError(f"{spec.path}: model_optimizer_args: expected --key=value or --flag, got {arg!r}")
        key, eq, value = arg[2:].partition("=")
        key = key.replace("-", "_")
        if key in _MO_ARGS_WE_SET - {"input_model"}:
            log.debug("model_optimizer_args: %s is decided by sshconv convert; ignored", arg)
            continue
        kwargs[key] = value if eq else True
    kwargs["input_model"] = kwargs.get("input_model") or str(input_dir / PARAMS_FILE)
    kwargs["input_shape"] = "[" + ",".join(str(d) for d in shape) + "]"
    kwargs.setdefault("input", spec.input.name)
    return kwargs


def _mo_model(spec: ModelSpec, input_dir: Path, shape: Sequence[int]):
    """The checkpoint through Model Optimizer's MXNet front end, as an in-memory ``ov.Model``."""
    from openvino.tools.mo import convert_model
    from openvino.tools.mo.utils.error import Error as MOError

    kwargs = mo_arguments(spec, input_dir, shape)
    log.debug("Model Optimizer: convert_model(%s)", kwargs)
    try:
        with _quiet_stdout():
            return convert_model(**kwargs)
    except MOError as exc:
        first = " ".join(str(exc).split())[:300]
        raise SpecError(
            f"{spec.path}: Model Optimizer rejected model_optimizer_args {list(spec.model_optimizer_args)} "
            f"for {input_dir}: {first}"
        ) from None


@contextlib.contextmanager
def _quiet_stdout():
    """Model Optimizer prints progress on stdout; the library never prints, so send it to the log."""
    buffer = _LogWriter()
    with contextlib.redirect_stdout(buffer):
        yield


class _LogWriter:
    def write(self, text: str) -> int:
        if text.strip():
            log.debug("%s", text.rstrip())
        return len(text)

    def flush(self) -> None:
        pass


# --------------------------------------------------------------------------- route: ONNX


def _register_mxnet_onnx_converters() -> None:
    """Teach MXNet's ONNX exporter ``SoftmaxActivation`` (registered once, for the process).

    ``SoftmaxActivation(mode=channel)`` is a softmax over axis 1 (the channels) of an NCHW
    tensor; ``mode=instance`` over everything but the batch axis. ONNX ``Softmax`` (opset 13)
    normalises exactly one axis, so only ``mode=channel`` maps onto one node.
    """
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    from mxnet.onnx.mx2onnx._op_translations._op_translations_opset13 import get_inputs
    from onnx.helper import make_node

    if "SoftmaxActivation" in MXNetGraph.registry_.get(ONNX_OPSET, {}):
        return

    @MXNetGraph.register("SoftmaxActivation", ONNX_OPSET)
    def convert_softmax_activation(node, **kwargs):
        name, inputs, attrs = get_inputs(node, kwargs)
        mode = attrs.get("mode", "instance")
        if mode != "channel":
            raise CheckpointError(
                f"symbol node {name}: SoftmaxActivation mode={mode!r} has no ONNX converter (only mode='channel'); "
                "use --via mo for this checkpoint"
            )
        return [make_node("Softmax", [inputs[0]], [name], axis=1, name=name)]


@contextlib.contextmanager
def _raw_weight_tensors():
    """While exporting, store each weight as one raw byte string (see the module docstring).

    The exporter's own ``null`` converter (opset 12) passes every float through
    ``make_tensor(vals=list)``; this one, found first because it is registered for a
    newer opset, writes the same values with ``numpy_helper.from_array``. The registry
    entry is removed afterwards so that other users of the exporter see it unchanged.
    """
    import onnx
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph

    def convert_weight_or_input(node, **kwargs):
        name = node["name"]
        if not kwargs["is_input"]:
            array = kwargs["weights"][name]
            tensor = onnx.numpy_helper.from_array(array, name)
            kwargs["initializer"].append(tensor)
            return [onnx.helper.make_tensor_value_info(name, tensor.data_type, array.shape)], (array.dtype,)
        elem = kwargs["in_type"]
        info = onnx.helper.make_tensor_value_info(name, elem, kwargs["in_shape"])
        return [info], (onnx.helper.tensor_dtype_to_np_dtype(elem),)

    table = MXNetGraph.registry_.setdefault(ONNX_OPSET, {})
    previous = table.get("null")
    table["null"] = convert_weight_or_input
    try:
        yield
    finally:
        if previous is None:
            table.pop("null", None)
        else:
            table["null"] = previous


def _export_onnx(ckpt: Checkpoint, spec: ModelSpec, shape: tuple[int, ...], outputs, target: Path) -> set[str]:
    """Export the checkpoint to ONNX with the preprocessing in front; return the graph's names."""
    import mxnet as mx
    import numpy as np
    import onnx

    _register_mxnet_onnx_converters()
    params = {**ckpt.arg_params, **ckpt.aux_params}
    ensure_dir(target.parent)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as stage:
        raw = Path(stage) / "export.onnx"
        with _raw_weight_tensors(), _quiet_stdout():
            mx.onnx.export_model(ckpt.symbol, params, [tuple(shape)], np.float32, str(raw))
        model = onnx.load(str(raw))
    _bake_preprocessing(model, spec)
    _order_graph_outputs(model.graph, [name for name, _ in outputs])
    # Weights are constants, not inputs a user may override: keep only the image input.
    weights = {t.name for t in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    del model.opset_import[:]
    model.opset_import.extend([onnx.helper.make_opsetid("", ONNX_OPSET)])
    model.producer_name, model.producer_version = "sshconv (mxnet.onnx.export_model)", mx.__version__
    model.doc_string = f"{ARTIFACT_NAME}: input {spec.input.name} {list(shape)} raw BGR 0..255 NCHW; {_preprocessing_text(spec)}"
    onnx.helper.set_model_props(
        model,
        {
            "input_layout": INPUT_LAYOUT,
            "input_channel_order": INPUT_CHANNEL_ORDER,
            "mean_values": json.dumps(list(spec.input.mean_values)),
            "reverse_input_channels": str(spec.input.reverse_input_channels).lower(),
        },
    )
    onnx.checker.check_model(model)
    with atomic_path(target) as tmp:
        tmp.write_bytes(model.SerializeToString())
    names = {n.name for n in model.graph.node} | weights | {o for n in model.graph.node for o in n.output}
    return names | {i.name for i in model.graph.input}


def _bake_preprocessing(model, spec: ModelSpec) -> None:
    """Put the channel reversal and mean subtraction in front of the graph's first layers.

    The input keeps its name and shape and now takes raw BGR 0..255; what the network
    consumed before (RGB minus mean) becomes the internal tensor ``<input>_preprocessed``.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    name = spec.input.name
    if name not in {i.name for i in graph.input}:
        raise CheckpointError(f"exported graph has no input named {name!r} (model.yml's --input); fix model_optimizer_args")
    inner = f"{name}_preprocessed"
    for node in graph.node:
        for k, src in enumerate(node.input):
            if src == name:
                node.input[k] = inner
    nodes, current = [], name
    if spec.input.reverse_input_channels:
        graph.initializer.append(numpy_helper.from_array(np.array([2, 1, 0], np.int64), f"{name}_bgr_to_rgb_indices"))
        nodes.append(
            onnx.helper.make_node(
                "Gather", [current, f"{name}_bgr_to_rgb_indices"], [f"{name}_rgb"], axis=1, name=f"{name}_bgr_to_rgb"
            )
        )
        current = f"{name}_rgb"
    if spec.input.mean_values:
        mean = np.array(spec.input.mean_values, np.float32).reshape(1, -1, 1, 1)
        graph.initializer.append(numpy_helper.from_array(mean, f"{name}_mean"))
        nodes.append(onnx.helper.make_node("Sub", [current, f"{name}_mean"], [inner], name=f"{name}_subtract_mean"))
    elif nodes:
        nodes[-1].output[0] = inner
    else:
        nodes.append(onnx.helper.make_node("Identity", [name], [inner], name=f"{name}_identity"))
    rest = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + rest)


def _order_graph_outputs(graph, order: list[str]) -> None:
    by_name = {o.name: o for o in graph.output}
    if set(by_name) != set(order):
        raise CheckpointError(f"exported graph outputs {sorted(by_name)} do not match model.yml's {order}")
    ordered = [by_name[n] for n in order]
    copies = [type(o)() for o in ordered]
    for c, o in zip(copies, ordered):
        c.CopyFrom(o)
    del graph.output[:]
    graph.output.extend(copies)


def _onnx_to_ov(path: Path):
    import openvino as ov

    return ov.convert_model(str(path))


# --------------------------------------------------------------------------- both routes: finish and save


def _finish_ir_model(model, spec: ModelSpec, outputs, known_names: set[str]) -> None:
    """Edit ``model`` in place: plain card names on the outputs, card order, NCHW input, stable names.

    Model Optimizer names output tensors ``rpn_cls_prob_reshape_stride16:0`` and orders them
    differently from the card; each output tensor gets the plain name as well (the ``:0``
    name stays, for tools that know it) and the results are put in model.yml's order.
    """
    import openvino as ov

    order = [name for name, _ in outputs]
    results = {}
    for result in model.get_results():
        tensor = result.input_value(0).get_tensor()
        plain = {n.split(":")[0] for n in tensor.get_names()} & set(order)
        if len(plain) != 1:
            raise CheckpointError(
                f"converted model output {sorted(tensor.get_names())} is not one of model.yml's outputs {order}"
            )
        name = plain.pop()
        tensor.add_names({name})
        result.output(0).get_tensor().add_names({name})
        results[name] = result
    if set(results) != set(order):
        raise CheckpointError(f"converted model outputs {sorted(results)} do not match model.yml's {order}")
    # Re-order the results in place: ov.Model has no setter, so remove and add them back in order.
    for result in model.get_results():
        model.remove_result(result)
    model.add_results([results[n] for n in order])
    for name, shape in outputs:
        got = tuple(results[name].get_output_partial_shape(0).to_shape())
        if got != tuple(shape):
            raise CheckpointError(f"converted output {name} has shape {list(got)}, the checkpoint gives {list(shape)}")
    for param in model.get_parameters():
        if spec.input.name in param.output(0).get_tensor().get_names():
            param.set_layout(ov.Layout(INPUT_LAYOUT))
    _stable_layer_names(model, known_names)


_COUNTER = re.compile(r"_?\d+$")


def _stable_layer_names(model, known: set[str]) -> None:
    """Replace generated layer names (``Gather_1753``, ``conv1_1/Dims1492``) with stable ones.

    A name is split at ``/``; a part that is a name from the source graph is kept, any other
    part loses its trailing counter. Names that then collide get ``_2``, ``_3``... in graph
    order, which is fixed for a given graph.
    """
    used: dict[str, int] = {}
    for op in model.get_ordered_ops():
        old = op.get_friendly_name()
        parts = []
        for part in old.split("/"):
            if part in known or part.split(":")[0] in known:
                parts.append(part)
            else:
                parts.append(_COUNTER.sub("", part) or op.get_type_name())
        new = "/".join(parts)
        used[new] = used.get(new, 0) + 1
        if used[new] > 1:
            new = f"{new}_{used[new]}"
        if new != old:
            op.set_friendly_name(new)


def _save_ir(model, folder: Path, precision: str, record, route: str) -> None:
    """Write ``folder/ssh-mxnet.{xml,bin}`` (FP16: weights compressed), each via a temporary name."""
    import openvino as ov

    xml, bin_ = folder / f"{ARTIFACT_NAME}.xml", folder / f"{ARTIFACT_NAME}.bin"
    # The .bin is renamed into place first, so a final .xml never points at a missing .bin.
    with atomic_path(xml) as tmp_xml, atomic_path(bin_) as tmp_bin:
        staged = tmp_xml.with_name(tmp_xml.name + ".xml")  # save_model puts the .bin beside the .xml
        try:
            ov.save_model(model, str(staged), compress_to_fp16=(precision == "FP16"))
            os.replace(staged, tmp_xml)
            os.replace(staged.with_suffix(".bin"), tmp_bin)
        finally:
            for leftover in (staged, staged.with_suffix(".bin")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    record(xml, route, precision, "ir-xml")
    record(bin_, route, precision, "ir-bin")


# --------------------------------------------------------------------------- versions


# --------------------------------------------------------------------------- reading a manifest back


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a ``sshconv convert`` output folder, checked for shape.

    Raises :class:`ModelFileError` (exit 2) for a folder that is not a conversion or a
    manifest that is not one of ours, including artifact paths that leave the folder.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"artifacts folder {folder}: not a folder; pass the --output-dir of `sshconv convert`")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ModelFileError(f"artifacts folder {folder}: no {MANIFEST_NAME}; run `sshconv convert --output-dir {folder}` first")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        entries = doc["artifacts"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) and "path" in e and "sha256" in e for e in entries):
            raise ValueError("artifacts")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: not a `sshconv convert` manifest ({exc.__class__.__name__}: {exc}); convert again"
        ) from None
    for e in entries:
        rel = Path(e["path"])
        if rel.is_absolute() or ".." in rel.parts:
            raise ModelFileError(f"{path}: artifact path {e['path']!r} leaves the folder; convert again")
    return doc


def check_artifacts(folder: str | Path, manifest: dict[str, Any]) -> None:
    """Every artifact the manifest lists is in ``folder`` with its recorded sha256, else :class:`IntegrityError`."""
    folder = Path(folder)
    where = folder / MANIFEST_NAME
    for e in manifest["artifacts"]:
        p = folder / e["path"]
        if not p.is_file():
            raise IntegrityError(f"{where}: lists {Path(e['path']).as_posix()}, which is missing; convert again")
        got = sha256_file(p)
        if got != str(e["sha256"]).lower():
            raise IntegrityError(
                f"{p}: sha256 {got} does not match the manifest's {e['sha256']}; the file changed since conversion, convert again"
            )


def tool_versions() -> dict[str, str]:
    """Versions of every tool that shapes the artifacts."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": ".".join(map(str, sys.version_info[:3]))}
    for dist in ("sshconv", "mxnet", "onnx", "openvino", "openvino-dev", "numpy", "protobuf"):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            found[dist] = "not installed"
    return found


__all__ = [
    "ARTIFACT_NAME",
    "MANIFEST_NAME",
    "default_input_dir",
    "PRECISIONS",
    "ROUTES",
    "convert",
    "mo_arguments",
    "parse_input_shape",
    "tool_versions",
]
