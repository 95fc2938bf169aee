"""The faces wrapper: frame in, faces out, as an ONNX graph of standard operations around the raw network.

The wrapper takes what OpenCV decodes (``frame``: uint8, N x H x W x 3, BGR, any size) and
gives the network's input ``data`` (fitted as chosen at conversion, float NCHW, the raw pixels
the network's own baked-in preprocessing expects); it takes the network's six outputs back and
decodes them as :mod:`sshconv.detection.decode` does (upstream's test code):

* anchors laid over each stride's actual feature map (``Range`` of its shape), the class map cut to it;
* the best :data:`~sshconv.detection.decode.PRE_NMS_TOP_N` anchors of each stride (``TopK``);
* upstream's delta transform (centre dx, dy, dw, dh; a box ``x1..x2`` is ``x2 - x1 + 1`` wide),
  boxes clipped to the network's frame, boxes clipped to nothing dropped;
* one ``NonMaxSuppression`` at 0.3 over every stride, with upstream's ``+1`` areas (ONNX's NMS has
  none: it gets ``x2 + 1``, ``y2 + 1``), a score floor;
* boxes divided by the fit's scale, into the frame's own pixels.

Outputs: ``faces`` (K x 5: x1, y1, x2, y2, score, frame pixels, best first per frame),
``face_image`` (K: which frame of the batch), and for OpenVINO Model API's detection wrapper
``bboxes`` (1 x K x 4, divided by the frame's width and height), ``scores`` (1 x K) and ``labels``
(1 x K, all 0: "face").

:func:`wrapper_model` builds it with ``input``/``output`` names of the raw network left open;
:mod:`.faces` splices the raw network in (ONNX) or stitches the two together in OpenVINO (IRs).
The constants a negative control alters carry the names in :data:`KNOBS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..detection.decode import PRE_NMS_TOP_N, DecodeConfig, base_anchors
from ..detection.fitting import NATIVE_MAX_PIXELS, UPSTREAM_LONG, UPSTREAM_SHORT
from ..model.shapes import MIN_SIDE
from .options import FACES_FLOOR

FRAME = "frame"
#: The wrapper's outputs, in order.
OUTPUTS = ("faces", "face_image", "bboxes", "scores", "labels")
#: Named constants the negative controls replace (see verification/controls.py).
KNOBS = {
    "plus_one": "faces/plus_one",  # upstream's +1 pixel in widths, heights and NMS areas
    "iou": "faces/iou_threshold",
    "anchors": "faces/anchors_stride{}",  # a stride's (A, 4) base anchors
    "stride": "faces/stride{}",  # a stride's pixels per cell
}


@dataclass(frozen=True)
class FacesOptions:
    """What a faces artifact bakes in: the fit, the score floor, and the decoding (model.yml's heads)."""

    fit: str = "none"
    floor: float = FACES_FLOOR
    config: DecodeConfig = DecodeConfig()

    def to_dict(self) -> dict:
        return {"fit": self.fit, "score_floor": self.floor, "nms_threshold": self.config.nms_threshold,
                "pre_nms_top_n": self.config.pre_nms_top_n, "strides": [h[0] for h in self.config.heads]}  # fmt: skip


class _Graph:
    """A few lines per ONNX node: fresh tensor names under ``faces/``, constants as initializers."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], [], 0

    def _name(self, op: str) -> str:
        self.count += 1
        return f"faces/{op}_{self.count}"

    def op(self, op: str, *inputs: str, outputs: int = 1, name: str | None = None, **attrs):
        from onnx import helper

        outs = [name] if name and outputs == 1 else [self._name(op) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), outs, name=outs[0], **attrs))
        return outs[0] if outputs == 1 else outs

    def const(self, value, dtype=np.float32, name: str | None = None) -> str:
        from onnx import numpy_helper

        name = name or self._name("const")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def col(self, t: str, i: int) -> str:
        """Column ``i`` of the last axis, kept (``[..., i:i+1]``)."""
        return self.op("Slice", t, self.const([i], np.int64), self.const([i + 1], np.int64), self.const([-1], np.int64))


def _fit(g: _Graph, x: str, hw_f: str, shape: str, fit: str) -> tuple[str, str]:
    """The fitted network input and its ``[h, w]`` (float) for the frame tensor ``x`` (N, 3, H, W)."""
    if fit == "none":
        return x, hw_f
    if "x" in fit:
        size = g.const([int(v) for v in fit.split("x")], np.float32)
    else:
        short = g.op("ReduceMin", hw_f, keepdims=0)
        long = g.op("ReduceMax", hw_f, keepdims=0)
        if fit == "upstream":
            scale = g.op("Div", g.const(UPSTREAM_SHORT), short)
            over = g.op("Greater", g.op("Round", g.op("Mul", scale, long)), g.const(UPSTREAM_LONG))
            scale = g.op("Where", over, g.op("Div", g.const(UPSTREAM_LONG), long), scale)
        else:  # native: at most one full-HD frame of pixels
            area = g.op("ReduceProd", hw_f, keepdims=0)
            scale = g.op("Min", g.const(1.0), g.op("Sqrt", g.op("Div", g.const(float(NATIVE_MAX_PIXELS)), area)))
        scale = g.op("Max", scale, g.op("Div", g.const(float(MIN_SIDE)), short))
        size = g.op("Max", g.op("Round", g.op("Mul", hw_f, scale)), g.const(float(MIN_SIDE)))
    lead = g.op("Slice", shape, g.const([0], np.int64), g.const([2], np.int64))
    sizes = g.op("Concat", lead, g.op("Cast", size, to=7), axis=0)
    # OpenCV's bilinear resize of uint8 (half-pixel centres, no antialiasing), rounded back to whole pixel values.
    resized = g.op("Resize", x, "", "", sizes, mode="linear", coordinate_transformation_mode="half_pixel")
    pixels = g.op("Clip", g.op("Round", resized), g.const(0.0), g.const(255.0))
    return pixels, size


def _stride(g: _Graph, stride: int, prob: str, deltas: str, net_hw: tuple[str, str], top_n: int, num_anchors: int):
    """One stride's best anchors decoded: boxes (N, k, 4) clipped to the network frame, scores (N, k)."""
    one = KNOBS["plus_one"]
    dshape = g.op("Shape", deltas)
    fhw = g.op("Slice", dshape, g.const([2], np.int64), g.const([4], np.int64))
    ends = g.op("Concat", g.const([2 * num_anchors], np.int64), fhw, axis=0)
    face = g.op("Slice", prob, g.const([num_anchors, 0, 0], np.int64), ends, g.const([1, 2, 3], np.int64))
    face = g.op("Reshape", g.op("Transpose", face, perm=[0, 2, 3, 1]), g.const([0, -1], np.int64))  # N, H*W*A
    d = g.op("Reshape", g.op("Transpose", deltas, perm=[0, 2, 3, 1]), g.const([0, -1, 4], np.int64))  # N, H*W*A, 4
    # Anchors of the actual map: (y, x, anchor) order, the base anchors shifted by stride * cell.
    step = KNOBS["stride"].format(stride)
    fh = g.op("Gather", dshape, g.const(2, np.int64), axis=0)
    fw = g.op("Gather", dshape, g.const(3, np.int64), axis=0)
    xs = g.op("Mul", g.op("Cast", g.op("Range", g.const(0, np.int64), fw, g.const(1, np.int64)), to=1), step)
    ys = g.op("Mul", g.op("Cast", g.op("Range", g.const(0, np.int64), fh, g.const(1, np.int64)), to=1), step)
    grid = g.op("Concat", g.op("Unsqueeze", fh, g.const([0], np.int64)), g.op("Unsqueeze", fw, g.const([0], np.int64)), axis=0)
    sx = g.op("Expand", g.op("Unsqueeze", xs, g.const([0], np.int64)), grid)
    sy = g.op("Expand", g.op("Unsqueeze", ys, g.const([1], np.int64)), grid)
    corner = [g.op("Unsqueeze", s, g.const([2, 3], np.int64)) for s in (sx, sy)]
    shifts = g.op("Concat", corner[0], corner[1], corner[0], corner[1], axis=3)  # H, W, 1, 4
    anchors = g.op("Reshape", g.op("Add", shifts, KNOBS["anchors"].format(stride)), g.const([-1, 4], np.int64))
    count = g.op("Slice", g.op("Shape", face), g.const([1], np.int64), g.const([2], np.int64))
    k = g.op("Min", count, g.const([top_n], np.int64))
    scores, best = g.op("TopK", face, k, axis=1, largest=1, sorted=1, outputs=2)
    a = g.op("Gather", anchors, best, axis=0)  # N, k, 4
    index = g.op("Expand", g.op("Unsqueeze", best, g.const([2], np.int64)), g.op("Shape", a))
    d = g.op("GatherElements", d, index, axis=1)
    ax1, ay1, ax2, ay2 = (g.col(a, i) for i in range(4))
    dx, dy, dw, dh = (g.col(d, i) for i in range(4))
    w = g.op("Add", g.op("Sub", ax2, ax1), one)
    h = g.op("Add", g.op("Sub", ay2, ay1), one)
    half = g.const(0.5)
    cx = g.op("Add", ax1, g.op("Mul", half, g.op("Sub", w, one)))
    cy = g.op("Add", ay1, g.op("Mul", half, g.op("Sub", h, one)))
    px, py = g.op("Add", g.op("Mul", dx, w), cx), g.op("Add", g.op("Mul", dy, h), cy)
    pw, ph = g.op("Mul", g.op("Exp", dw), w), g.op("Mul", g.op("Exp", dh), h)
    rx, ry = g.op("Mul", half, g.op("Sub", pw, one)), g.op("Mul", half, g.op("Sub", ph, one))
    zero = g.const(0.0)
    net_h, net_w = net_hw
    x1, x2 = (g.op("Clip", g.op(op, px, rx), zero, net_w) for op in ("Sub", "Add"))
    y1, y2 = (g.op("Clip", g.op(op, py, ry), zero, net_h) for op in ("Sub", "Add"))
    boxes = g.op("Concat", x1, y1, x2, y2, axis=2)
    # A box clipped to nothing (zero width or height) is no face: its score drops under any floor.
    real = g.op("And", g.op("Greater", x2, x1), g.op("Greater", y2, y1))
    scores = g.op("Where", g.op("Squeeze", real, g.const([2], np.int64)), scores, g.const(-1.0))
    return boxes, scores


def wrapper_model(spec, options: FacesOptions, opset: int = 13):
    """The wrapper as an ONNX ``ModelProto``: inputs ``frame`` and the six raw outputs, outputs ``data`` and :data:`OUTPUTS`."""
    from onnx import TensorProto, helper

    from ..model.spec import NUM_ANCHORS

    g = _Graph()
    for stride in {h[0] for h in options.config.heads}:
        g.const(base_anchors(stride), name=KNOBS["anchors"].format(stride))
        g.const(float(stride), name=KNOBS["stride"].format(stride))
    g.const(1.0, name=KNOBS["plus_one"])
    g.const([options.config.nms_threshold], name=KNOBS["iou"])
    x = g.op("Transpose", g.op("Cast", FRAME, to=1), perm=[0, 3, 1, 2])  # N, 3, H, W float
    shape = g.op("Shape", x)
    hw_f = g.op("Cast", g.op("Slice", shape, g.const([2], np.int64), g.const([4], np.int64)), to=1)
    data, size = _fit(g, x, hw_f, shape, options.fit)
    g.op("Identity", data, name=spec.input.name)
    last = g.op("Sub", size, g.const([1.0, 1.0]))  # the last pixel row and column of the network's frame
    net_hw = tuple(g.op("Squeeze", g.col(last, i), g.const([0], np.int64)) for i in range(2))
    boxes, scores = [], []
    for stride, cls_name, box_name in options.config.heads:
        b, s = _stride(g, stride, cls_name, box_name, net_hw, options.config.pre_nms_top_n, NUM_ANCHORS)
        boxes.append(b)
        scores.append(s)
    boxes = g.op("Concat", *boxes, axis=1)  # N, K, 4
    scores = g.op("Concat", *scores, axis=1)  # N, K
    one = KNOBS["plus_one"]
    x1, y1, x2, y2 = (g.col(boxes, i) for i in range(4))
    nms_boxes = g.op("Concat", x1, y1, g.op("Add", x2, one), g.op("Add", y2, one), axis=2)
    most = g.const([PRE_NMS_TOP_N * len(options.config.heads)], np.int64)
    picked = g.op("NonMaxSuppression", nms_boxes, g.op("Unsqueeze", scores, g.const([1], np.int64)), most,
                  KNOBS["iou"], g.const([options.floor]))  # fmt: skip
    where = g.op("Concat", g.col(picked, 0), g.col(picked, 2), axis=1)  # (image, box) per kept face
    kept = g.op("GatherND", boxes, where)  # K, 4
    kept_scores = g.op("GatherND", scores, where)  # K
    scale = g.op("Div", size, hw_f)  # network pixels per frame pixel: (sy, sx)
    sy, sx = (g.col(scale, i) for i in range(2))
    h_f, w_f = (g.col(hw_f, i) for i in range(2))
    in_frame = g.op("Div", kept, g.op("Concat", sx, sy, sx, sy, axis=0))
    g.op("Concat", in_frame, g.op("Unsqueeze", kept_scores, g.const([1], np.int64)), axis=1, name="faces")
    g.op("Squeeze", g.col(picked, 0), g.const([1], np.int64), name="face_image")
    unit = g.op("Div", in_frame, g.op("Concat", w_f, h_f, w_f, h_f, axis=0))
    g.op("Unsqueeze", unit, g.const([0], np.int64), name="bboxes")
    g.op("Unsqueeze", kept_scores, g.const([0], np.int64), name="scores")
    g.op("Unsqueeze", g.op("Cast", g.op("Mul", kept_scores, g.const(0.0)), to=7), g.const([0], np.int64), name="labels")

    f32, i64 = TensorProto.FLOAT, TensorProto.INT64
    inputs = [helper.make_tensor_value_info(FRAME, TensorProto.UINT8, ["batch", "height", "width", 3])]
    inputs += [helper.make_tensor_value_info(o.name, f32, None) for o in spec.outputs]
    outputs = [helper.make_tensor_value_info(spec.input.name, f32, ["batch", 3, "net_height", "net_width"]),
               helper.make_tensor_value_info("faces", f32, ["faces", 5]),
               helper.make_tensor_value_info("face_image", i64, ["faces"]),
               helper.make_tensor_value_info("bboxes", f32, [1, "faces", 4]),
               helper.make_tensor_value_info("scores", f32, [1, "faces"]),
               helper.make_tensor_value_info("labels", i64, [1, "faces"])]  # fmt: skip
    graph = helper.make_graph(g.nodes, "ssh-faces-wrapper", inputs, outputs, initializer=g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="sshconv")
