"""Route ``onnx``: MXNet's own exporter writes ONNX, with the preprocessing put in front of the graph.

Speed. MXNet's exporter builds every weight with ``onnx.helper.make_tensor(vals=list)``;
with the pure-Python protobuf that ``openvino-dev[onnx]`` pins on Python 3.11 (3.20.x,
no compiled wheel), each of the 19.7 M floats is type-checked and encoded one at a time
(about 19 s, and 200 s under a profiler, 1.5 GB). We register a converter for MXNet's
weight nodes (``null``) that stores each weight as one raw byte string instead: the same
tensor values, the export drops to about a second.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

from ..errors import CheckpointError, param
from ..fsutil import atomic_path, ensure_dir
from ..model.checkpoint import Checkpoint
from ..model.spec import ModelSpec
from .manifest import ARTIFACT_NAME, INPUT_CHANNEL_ORDER, INPUT_LAYOUT, ONNX_INPUT_DIMS, preprocessing_text
from .mo import quiet_stdout

#: ONNX opset of mxnet 1.9's newest converters; the exported file declares it.
ONNX_OPSET = 13


def register_mxnet_onnx_converters() -> None:
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
                f"use the mo route ({param('via')} mo) for this checkpoint"
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


def export_onnx(ckpt: Checkpoint, spec: ModelSpec, shape: tuple[int, ...], outputs, target: Path) -> set[str]:
    """Export the checkpoint to ONNX with the preprocessing in front; return the graph's names."""
    from ..extras import require

    onnx = require("onnx", "the onnx route (MXNet's ONNX exporter)")
    import mxnet as mx
    import numpy as np

    register_mxnet_onnx_converters()
    params = {**ckpt.arg_params, **ckpt.aux_params}
    ensure_dir(target.parent)
    with tempfile.TemporaryDirectory(prefix=f".{target.name}.", dir=target.parent) as stage:
        raw = Path(stage) / "export.onnx"
        with _raw_weight_tensors(), quiet_stdout():
            mx.onnx.export_model(ckpt.symbol, params, [tuple(shape)], np.float32, str(raw))
        model = onnx.load(str(raw))
    bake_preprocessing(model, spec)
    _order_graph_outputs(model.graph, [name for name, _ in outputs])
    make_axes_dynamic(model.graph)
    # Weights are constants, not inputs a user may override: keep only the image input.
    weights = {t.name for t in model.graph.initializer}
    kept = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    del model.opset_import[:]
    model.opset_import.extend([onnx.helper.make_opsetid("", ONNX_OPSET)])
    model.producer_name, model.producer_version = "sshconv (mxnet.onnx.export_model)", mx.__version__
    model.doc_string = (f"{ARTIFACT_NAME}: input {spec.input.name} [{', '.join(map(str, ONNX_INPUT_DIMS))}] (exported at "
                        f"{list(shape)}) raw BGR 0..255 NCHW; {preprocessing_text(spec)}")  # fmt: skip
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


def make_axes_dynamic(graph) -> None:
    """Batch, height and width as named dynamic axes, so that ONNX Runtime runs any frame and batch.

    The exported graph computes every shape it needs at run time (the stride-8 crop reads the
    upsampled map's ``Shape``; the class-probability reshapes use 0 and -1), so only the declared
    dimensions pin it to the export's shape. Each output's height and width get their own names
    (they are the input's divided by the stride, not equal to it); the export's own intermediate
    shapes (``value_info``) are dropped, the runtime infers them.
    """
    image = graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(image, ONNX_INPUT_DIMS):
        if isinstance(value, str):
            dim.ClearField("dim_value")
            dim.dim_param = value
    for out in graph.output:
        dims = out.type.tensor_type.shape.dim
        for k, suffix in ((0, None), (2, "height"), (3, "width")):
            dims[k].ClearField("dim_value")
            dims[k].dim_param = ONNX_INPUT_DIMS[0] if suffix is None else f"{out.name}_{suffix}"
    del graph.value_info[:]


def bake_preprocessing(model, spec: ModelSpec) -> None:
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


def onnx_to_ov(path: Path, shape=None):
    """The ONNX file as an ``ov.Model``; its dynamic axes fixed to ``shape`` (the IRs' default, they reshape)."""
    import openvino as ov

    model = ov.convert_model(str(path))
    if shape is not None and model.inputs[0].get_partial_shape().is_dynamic:
        model.reshape({model.inputs[0]: list(shape)})
    return model
