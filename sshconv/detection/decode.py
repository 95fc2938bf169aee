"""Turn the six SSH outputs into face boxes, as the original SSH test code does.

Reusable on its own: give it the outputs of any runtime (MXNet, OpenVINO, ONNX) as
a ``{name: array}`` mapping with the card's names, get ``(N, 5)`` boxes
``[x1, y1, x2, y2, score]`` in input-pixel coordinates.

Per stride, the anchors are the Faster R-CNN ones: base size 16, ratio 1, scales
(32, 16) at stride 32, (8, 4) at 16 and (2, 1) at 8, replicated over the feature map.
Channel ``A + a`` of ``rpn_cls_prob_reshape_stride{s}`` is the face probability of
anchor ``a`` (``A`` = 2 anchors), and channels ``4a .. 4a+3`` of
``rpn_bbox_pred_stride{s}`` are its (dx, dy, dw, dh) deltas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model.spec import NUM_ANCHORS, ModelSpec, OutputSpec, default_outputs
from .boxes import apply_deltas, clip_boxes, nms

BASE_SIZE = 16
ANCHOR_SCALES = {32: (32, 16), 16: (8, 4), 8: (2, 1)}
ANCHOR_RATIOS = (1.0,)
NMS_THRESHOLD = 0.3
SCORE_THRESHOLD = 0.5
#: The best anchors kept per stride before NMS, as upstream's test code and the OMZ accuracy checker do.
PRE_NMS_TOP_N = 1000


def heads_of(outputs: Sequence[OutputSpec]) -> tuple[tuple[int, str, str], ...]:
    """``(stride, class-probability output, box-delta output)`` per head: each cls output with the bbox one of its stride."""
    by_family: dict[str, dict[int, str]] = {}
    for o in outputs:
        by_family.setdefault(o.family, {})[o.stride] = o.name
    cls_out, box_out = by_family.get("cls_prob", {}), by_family.get("bbox_pred", {})
    return tuple((s, cls_out[s], box_out[s]) for s in cls_out if s in box_out)


def card_heads() -> tuple[tuple[int, str, str], ...]:
    return heads_of(default_outputs())


@dataclass(frozen=True)
class DecodeConfig:
    score_threshold: float = SCORE_THRESHOLD
    nms_threshold: float = NMS_THRESHOLD
    pre_nms_top_n: int = PRE_NMS_TOP_N
    #: ``(stride, cls output name, bbox output name)`` per head; :meth:`for_spec` takes them from model.yml.
    heads: tuple[tuple[int, str, str], ...] = field(default_factory=card_heads)

    @classmethod
    def for_spec(cls, spec: ModelSpec, **kwargs) -> DecodeConfig:
        """The heads of model.yml's outputs."""
        return cls(heads=heads_of(spec.outputs), **kwargs)


def base_anchors(stride: int) -> np.ndarray:
    """The ``(A, 4)`` anchors centred on the first cell of a stride's feature map."""
    base = np.array([0, 0, BASE_SIZE - 1, BASE_SIZE - 1], dtype=np.float64)
    w = base[2] - base[0] + 1
    h = base[3] - base[1] + 1
    cx, cy = base[0] + 0.5 * (w - 1), base[1] + 0.5 * (h - 1)
    anchors = []
    for ratio in ANCHOR_RATIOS:
        ws = np.round(np.sqrt(w * h / ratio))
        hs = np.round(ws * ratio)
        for scale in ANCHOR_SCALES[stride]:
            sw, sh = ws * scale, hs * scale
            anchors.append([cx - 0.5 * (sw - 1), cy - 0.5 * (sh - 1), cx + 0.5 * (sw - 1), cy + 0.5 * (sh - 1)])
    return np.array(anchors, dtype=np.float32)


def anchor_grid(height: int, width: int, stride: int) -> np.ndarray:
    """All anchors of a ``height`` x ``width`` map, ``(H * W * A, 4)``, in (y, x, anchor) order."""
    shift_x = np.arange(width, dtype=np.float32) * stride
    shift_y = np.arange(height, dtype=np.float32) * stride
    sx, sy = np.meshgrid(shift_x, shift_y)
    shifts = np.stack([sx, sy, sx, sy], axis=-1)  # H, W, 4
    return (shifts[:, :, None, :] + base_anchors(stride)[None, None]).reshape(-1, 4)


def stride_candidates(
    outputs: Mapping[str, np.ndarray], stride: int, cls_name: str, bbox_name: str, top_n: int = PRE_NMS_TOP_N,
    score_threshold: float = SCORE_THRESHOLD, image: int = 0,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """One stride's best anchors of image ``image``: at most ``top_n`` by face score, those at or above
    ``score_threshold``; their boxes (input pixels, not clipped) and scores, best first.

    The anchors are laid over the stride's actual map (the box deltas' height and width) and the class
    map is cut to it first, as upstream's ``_clip_pad`` does. Upstream keeps the best anchors of each
    stride, NMS's them, then thresholds: thresholding first gives the same boxes, since greedy NMS never
    lets a lower score remove a higher one.
    """
    deltas = np.asarray(outputs[bbox_name], dtype=np.float32)[image]
    fh, fw = deltas.shape[1], deltas.shape[2]
    face = np.asarray(outputs[cls_name], dtype=np.float32)[image, NUM_ANCHORS:, :fh, :fw].transpose(1, 2, 0).reshape(-1)
    d = deltas.transpose(1, 2, 0).reshape(-1, 4)  # (H, W, A*4) -> (H*W*A, 4)
    best = np.argsort(-face, kind="stable")[:top_n]
    best = best[face[best] >= score_threshold]
    return apply_deltas(anchor_grid(fh, fw, stride)[best], d[best]), face[best]


def decode(
    outputs: Mapping[str, np.ndarray],
    input_hw: tuple[int, int],
    config: DecodeConfig = DecodeConfig(),
    scale: float | tuple[float, float] = 1.0,
    image: int = 0,
) -> np.ndarray:
    """Face boxes ``(N, 5)`` = ``[x1, y1, x2, y2, score]`` of image ``image`` of a batch's six outputs.

    Any input size: the anchors are laid over each stride's actual feature map (the
    box deltas' height and width), and the class map is cut to it first, as upstream's
    ``_clip_pad`` does. ``input_hw`` is the frame the network saw (boxes are clipped to
    it); boxes are then divided by ``scale`` (``(sy, sx)`` or one number), the factor the
    image was resized by to fit the network, so they land in the original image's pixels.
    """
    height, width = input_hw
    proposals, scores = [], []
    for s, cls_name, bbox_name in config.heads:
        boxes, face = stride_candidates(outputs, s, cls_name, bbox_name, config.pre_nms_top_n, config.score_threshold, image)
        if not len(boxes):
            continue
        boxes = clip_boxes(boxes, height, width)
        # A box clipped to nothing (zero width or height, beyond the picture's edge) is no face.
        real = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        proposals.append(boxes[real])
        scores.append(face[real])
    if not proposals:
        return np.zeros((0, 5), dtype=np.float32)
    dets = np.hstack([np.vstack(proposals), np.concatenate(scores)[:, None]]).astype(np.float32)
    dets = dets[nms(dets, config.nms_threshold)]
    sy, sx = (scale, scale) if np.isscalar(scale) else scale
    dets[:, [0, 2]] /= sx
    dets[:, [1, 3]] /= sy
    return dets


def decode_batch(
    outputs: Mapping[str, np.ndarray], input_hw: tuple[int, int], config: DecodeConfig = DecodeConfig(),
    scales: Sequence[float | tuple[float, float]] | None = None,
) -> list[np.ndarray]:  # fmt: skip
    """:func:`decode` for every image of a batch (``scales``: one per image, default 1)."""
    batch = len(next(iter(outputs.values())))
    scales = list(scales) if scales is not None else [1.0] * batch
    return [decode(outputs, input_hw, config, scales[i], image=i) for i in range(batch)]
