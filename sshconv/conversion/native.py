"""The ``native`` route: the checkpoint's symbol built into an OpenVINO model with OpenVINO's own operations, no MXNet.

The checkpoint is read with NumPy alone (:func:`~sshconv.model.checkpoint.read_checkpoint`), and each node of the
symbol becomes the OpenVINO operation with MXNet's meaning of its attributes:

=====================  ==============================================================================
``Convolution``        Convolution (GroupConvolution for ``num_group`` > 1), then the bias added
``Deconvolution``      ConvolutionBackpropData (the grouped one for ``num_group`` > 1); ``pad`` on both
                       sides, ``adj`` as the output padding
``Activation`` relu    Relu
``Pooling`` max        MaxPool; ``valid`` rounds the output size down, ``full`` up
``Concat``             Concat on ``dim``
``Reshape``            Reshape with MXNet's 0 (copy that dimension) and -1 (what is left)
``SoftmaxActivation``  Softmax over the channels
``Crop`` to a tensor   Slice of the height and width, from ``offset``, to the second input's size
``elemwise_add``       Add
=====================  ==============================================================================

In front of the network, the preprocessing every route bakes in (raw BGR 0..255 in): the channels reversed, then
model.yml's mean subtracted. Shapes stay symbolic where MXNet's do (Reshape's 0 and -1, Crop to a tensor's size),
so the IR reshapes to any input size as the other routes' IRs do. :mod:`.core` finishes and saves it like theirs.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..model.checkpoint import SymbolCheckpoint
from ..model.spec import ModelSpec
from ..model.symbol_file import Node


@lru_cache(maxsize=1)
def _ops():
    """OpenVINO's opset 13 (``openvino.opset13`` today; ``openvino.runtime.opset13`` in 2023.x)."""
    try:
        import openvino.opset13 as ops
    except ImportError:  # OpenVINO 2023.x, the conversion stack
        import openvino.runtime.opset13 as ops
    return ops


def native_model(ckpt: SymbolCheckpoint, spec: ModelSpec, shape) -> object:
    """The ``ov.Model`` of the checkpoint at input ``shape`` (1,3,H,W), raw BGR in, the symbol's heads out."""
    import openvino as ov

    ops = _ops()
    data = ops.parameter(list(shape), ov.Type.f32, name=spec.input.name)
    data.output(0).get_tensor().set_names({spec.input.name})
    x = data
    if spec.input.reverse_input_channels:
        x = ops.gather(x, ops.constant(np.array([2, 1, 0], np.int64)), ops.constant(np.int64(1)))
        x.set_friendly_name("reverse_channels")
    if spec.input.mean_values:
        x = ops.subtract(x, _const(ops, spec.input.mean_values, (1, -1, 1, 1)))
        x.set_friendly_name("subtract_mean")
    x = x.output(0)

    values: dict[int, object] = {}
    for node in ckpt.graph.nodes:
        if node.op == "null":
            values[node.index] = x if node.name == spec.input.name else ckpt.params[node.name]
            continue
        ins = [values[i] for i, _ in node.inputs]
        out = _build(ops, node, ins)
        out.get_node().set_friendly_name(node.name)
        out.get_tensor().set_names({node.name})
        values[node.index] = out
    results = [ops.result(values[i]) for i, _ in ckpt.graph.heads]
    return ov.Model(results, [data], "ssh-native")


def _const(ops, array: np.ndarray, shape=None):
    a = np.asarray(array, np.float32)
    return ops.constant(a if shape is None else a.reshape(shape))


def _build(ops, node: Node, ins: list):
    """One symbol node as OpenVINO operations; ``ins`` are its inputs (outputs of operations, or NumPy parameters)."""
    op = node.op
    if op in ("Convolution", "Deconvolution"):
        return _convolution(ops, node, ins)
    if op == "Activation":
        return ops.relu(ins[0]).output(0)
    if op == "Pooling":
        pad = list(node.tuple_attr("pad", (0, 0)))
        rounding = "ceil" if node.attrs.get("pooling_convention", "valid") == "full" else "floor"
        return ops.max_pool(ins[0], list(node.tuple_attr("stride", (1, 1))), [1, 1], pad, pad,
                            list(node.tuple_attr("kernel", ())), rounding_type=rounding).output(0)  # fmt: skip
    if op == "Concat":
        return ops.concat(ins, node.int_attr("dim", 1)).output(0)
    if op == "Reshape":
        target = np.array(node.tuple_attr("shape", ()), np.int64)
        return ops.reshape(ins[0], ops.constant(target), special_zero=True).output(0)
    if op == "SoftmaxActivation":
        return ops.softmax(ins[0], 1).output(0)
    if op == "Crop":
        offset = np.array(node.tuple_attr("offset", (0, 0)), np.int64)
        size = ops.gather(ops.shape_of(ins[1]), ops.constant(np.array([2, 3], np.int64)), ops.constant(np.int64(0)))
        stop = ops.add(size, ops.constant(offset))
        return ops.slice(ins[0], ops.constant(offset), stop, ops.constant(np.ones(2, np.int64)),
                         ops.constant(np.array([2, 3], np.int64))).output(0)  # fmt: skip
    if op == "elemwise_add":
        return ops.add(ins[0], ins[1]).output(0)
    raise node.fail("no OpenVINO operation is built for it")  # read_symbol refuses such a node first


def _convolution(ops, node: Node, ins: list):
    """MXNet's (de)convolution: weight layouts regrouped for OpenVINO's grouped operations, the bias added after."""
    x, weight = ins[0], np.asarray(ins[1])
    bias = np.asarray(ins[2]) if len(ins) > 2 else None
    stride, dilate = list(node.tuple_attr("stride", (1, 1))), list(node.tuple_attr("dilate", (1, 1)))
    pad, groups = list(node.tuple_attr("pad", (0, 0))), node.int_attr("num_group", 1)
    kernel = weight.shape[2:]
    if node.op == "Convolution":  # weight: (filters, channels per group, kh, kw)
        if groups == 1:
            y = ops.convolution(x, _const(ops, weight), stride, pad, pad, dilate)
        else:
            w = _const(ops, weight, (groups, weight.shape[0] // groups, weight.shape[1], *kernel))
            y = ops.group_convolution(x, w, stride, pad, pad, dilate)
    else:  # weight: (input channels, filters per group, kh, kw)
        grouped = groups > 1
        build = ops.group_convolution_backprop_data if grouped else ops.convolution_backprop_data
        w = _const(ops, weight, (groups, weight.shape[0] // groups, weight.shape[1], *kernel) if grouped else None)
        y = build(x, w, stride, pads_begin=pad, pads_end=pad, dilations=dilate, auto_pad="explicit",
                  output_padding=list(node.tuple_attr("adj", (0, 0))))  # fmt: skip
    if bias is not None:  # named as Model Optimizer names them: the add takes the node's name, set by the caller
        y.set_friendly_name(f"{node.name}/WithoutBiases")
        y = ops.add(y, _const(ops, bias, (1, -1, 1, 1)))
    return y.output(0)
