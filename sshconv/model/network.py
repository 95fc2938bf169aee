"""The SSH inference graph, rebuilt layer for layer with the upstream names.

This is the test-time graph of the original mxnet-SSH detector (VGG16 trunk, three
detection modules M1/M2/M3 at strides 8/16/32, no FPN, no deformable conv, no
maxout), cut before the proposal custom op so that it ends at the six raw outputs.
Layer and parameter names match the released ``sshb`` checkpoint, so its
``sshb-0000.params`` binds to this graph unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .spec import NUM_ANCHORS, STRIDES, plain_name

if TYPE_CHECKING:  # pragma: no cover
    import mxnet as mx

INPUT_NAME = "data"
#: (number of conv layers, filters) of the VGG16 groups conv1 .. conv5.
VGG_GROUPS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
#: Filters of the detection modules; their output has twice as many channels.
M1_FILTERS = 128
M23_FILTERS = 256
CARD_PARAMS = 19_768_420
CARD_GFLOPS = 267.0594


def output_names() -> list[str]:
    """The six output names in the network's order (stride 32, 16, 8; cls before bbox)."""
    names = []
    for s in STRIDES:
        names += [f"rpn_cls_prob_reshape_stride{s}", f"rpn_bbox_pred_stride{s}"]
    return names


def _conv(mx, data, name: str, filters: int, kernel: int, relu: bool, relu_name: str | None = None):
    pad = (kernel // 2, kernel // 2)
    conv = mx.sym.Convolution(data=data, kernel=(kernel, kernel), pad=pad, num_filter=filters, name=name)
    if not relu:
        return conv
    return mx.sym.Activation(data=conv, act_type="relu", name=relu_name or f"{name}_relu")


def _detection_module(mx, body, filters: int, name: str):
    conv3 = _conv(mx, body, f"{name}_conv1", filters, 3, relu=False)
    half = filters // 2
    ctx = _conv(mx, body, f"{name}_context_conv1", half, 3, relu=True)
    conv5 = _conv(mx, ctx, f"{name}_context_conv2", half, 3, relu=False)
    conv7a = _conv(mx, ctx, f"{name}_context_conv3_1", half, 3, relu=True)
    conv7 = _conv(mx, conv7a, f"{name}_context_conv3_2", half, 3, relu=False)
    cat = mx.sym.concat(conv3, conv5, conv7, dim=1, name=f"{name}_concat")
    return mx.sym.Activation(data=cat, act_type="relu", name=f"{name}_concat_relu")


def build_symbol() -> mx.sym.Symbol:
    """The SSH test graph as an MXNet symbol with one input ``data`` and six outputs."""
    from ..extras import require

    mx = require("mxnet", "building the SSH graph")

    x = mx.sym.Variable(INPUT_NAME)
    relu4_3 = relu5_3 = None
    for g, (n_convs, filters) in enumerate(VGG_GROUPS, start=1):
        for i in range(1, n_convs + 1):
            x = _conv(mx, x, f"conv{g}_{i}", filters, 3, relu=True, relu_name=f"relu{g}_{i}")
        if g == 4:
            relu4_3 = x
        if g == 5:
            relu5_3 = x
        else:
            x = mx.sym.Pooling(data=x, pool_type="max", kernel=(2, 2), stride=(2, 2), name=f"pool{g}")
    m3_pool = mx.sym.Pooling(data=relu5_3, pool_type="max", kernel=(2, 2), stride=(2, 2), pad=(0, 0), name="m3_pool")

    m1_red = _conv(mx, relu4_3, "ssh_m1_red_conv", M1_FILTERS, 1, relu=True)
    m2_red = _conv(mx, relu5_3, "ssh_m2_red_conv", M1_FILTERS, 1, relu=True)
    m2_up = mx.sym.Deconvolution(
        data=m2_red, num_filter=M1_FILTERS, kernel=(4, 4), stride=(2, 2), pad=(1, 1),
        num_group=M1_FILTERS, no_bias=True, name="ssh_m2_red_upsampling",
    )  # fmt: skip
    m1_crop = mx.sym.Crop(m1_red, m2_up, name="ssh_m1_red_crop")
    m1_sum = mx.sym.elemwise_add(m1_crop, m2_up, name="ssh_m1_sum")
    m1_conv = _conv(mx, m1_sum, "ssh_m1_conv", M1_FILTERS, 3, relu=True)

    bodies = {
        8: _detection_module(mx, m1_conv, M1_FILTERS, "ssh_m1_det"),
        16: _detection_module(mx, relu5_3, M23_FILTERS, "ssh_m2_det"),
        32: _detection_module(mx, m3_pool, M23_FILTERS, "ssh_m3_det"),
    }
    outputs = []
    for s in STRIDES:
        body = bodies[s]
        cls = _conv(mx, body, f"rpn_cls_score_stride{s}", 2 * NUM_ANCHORS, 1, relu=False)
        bbox = _conv(mx, body, f"rpn_bbox_pred_stride{s}", 4 * NUM_ANCHORS, 1, relu=False)
        cls = mx.sym.Reshape(data=cls, shape=(0, 2, -1, 0), name=f"rpn_cls_score_reshape_stride{s}")
        cls = mx.sym.SoftmaxActivation(data=cls, mode="channel", name=f"rpn_cls_prob_stride{s}")
        cls = mx.sym.Reshape(data=cls, shape=(0, 2 * NUM_ANCHORS, -1, 0), name=f"rpn_cls_prob_reshape_stride{s}")
        outputs += [cls, bbox]
    return mx.sym.Group(outputs)


def parameter_shapes(symbol, input_shape=(1, 3, 640, 640)) -> dict[str, tuple[int, ...]]:
    """Shapes of every learned parameter (arguments other than the input) and aux state."""
    arg_shapes, _, aux_shapes = symbol.infer_shape(**{INPUT_NAME: tuple(input_shape)})
    shapes = {n: tuple(s) for n, s in zip(symbol.list_arguments(), arg_shapes) if n != INPUT_NAME}
    shapes.update({n: tuple(s) for n, s in zip(symbol.list_auxiliary_states(), aux_shapes)})
    return shapes


def count_parameters(symbol) -> int:
    total = 0
    for shape in parameter_shapes(symbol).values():
        n = 1
        for d in shape:
            n *= d
        total += n
    return total


def output_shapes(symbol, input_shape=(1, 3, 640, 640)) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of each output, names without MXNet's ``_output`` suffix."""
    _, out_shapes, _ = symbol.infer_shape(**{INPUT_NAME: tuple(input_shape)})
    return [(plain_name(n), tuple(s)) for n, s in zip(symbol.list_outputs(), out_shapes)]


def count_gflops(symbol, input_shape=(1, 3, 640, 640)) -> float:
    """2 x multiply-adds of every Convolution and Deconvolution, in 1e9 units.

    This is how the model card counts (elementwise ops, pooling and softmax are a
    rounding error next to the convolutions and are left out).
    """
    import json

    internals = symbol.get_internals()
    _, out_shapes, _ = internals.infer_shape(**{INPUT_NAME: tuple(input_shape)})
    shape_of = dict(zip(internals.list_outputs(), out_shapes))
    graph = json.loads(symbol.tojson())
    nodes = graph["nodes"]
    macs = 0
    for node in nodes:
        if node["op"] not in ("Convolution", "Deconvolution"):
            continue
        attrs = node.get("attrs", {})
        kernel = [int(k) for k in attrs["kernel"].strip("()").split(",") if k.strip()]
        groups = int(attrs.get("num_group", 1))
        out_shape = shape_of[node["name"] + "_output"]
        in_node = nodes[node["inputs"][0][0]]
        in_name = in_node["name"] if in_node["op"] == "null" else in_node["name"] + "_output"
        in_shape = shape_of[in_name]
        k = 1
        for d in kernel:
            k *= d
        if node["op"] == "Convolution":
            macs += out_shape[1] * out_shape[2] * out_shape[3] * (in_shape[1] // groups) * k * out_shape[0]
        else:  # each input pixel is spread over the kernel
            macs += in_shape[1] * in_shape[2] * in_shape[3] * (out_shape[1] // groups) * k * in_shape[0]
    return 2 * macs / 1e9
