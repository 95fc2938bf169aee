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


def apply_deltas(boxes: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """The R-CNN box transform: shift centres by (dx, dy) * size, scale sizes by exp(dw, dh)."""
    boxes = boxes.astype(np.float32, copy=False)
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    ctr_x = boxes[:, 0] + 0.5 * (widths - 1.0)
    ctr_y = boxes[:, 1] + 0.5 * (heights - 1.0)
    dx, dy, dw, dh = (deltas[:, i] for i in range(4))
    pred_ctr_x = dx * widths + ctr_x
    pred_ctr_y = dy * heights + ctr_y
    with np.errstate(over="ignore"):
        pred_w = np.exp(dw) * widths
        pred_h = np.exp(dh) * heights
    return np.stack(
        [pred_ctr_x - 0.5 * (pred_w - 1.0), pred_ctr_y - 0.5 * (pred_h - 1.0),
         pred_ctr_x + 0.5 * (pred_w - 1.0), pred_ctr_y + 0.5 * (pred_h - 1.0)],
        axis=1,
    )  # fmt: skip


def clip_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    out = boxes.copy()
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width - 1)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height - 1)
    return out


def nms(dets: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    if len(dets) == 0:
        return np.zeros(0, dtype=np.int64)
    if threshold >= 1.0:  # no IoU exceeds 1: nothing is suppressed
        return dets[:, 4].argsort(kind="stable")[::-1]
    x1, y1, x2, y2, scores = (dets[:, i] for i in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort(kind="stable")[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        iou = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[1:][iou <= threshold]
    return np.array(keep, dtype=np.int64)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (N, >=4) with every box of ``b`` (M, >=4), same +1 pixel convention."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    ax1, ay1, ax2, ay2 = (a[:, None, i] for i in range(4))
    bx1, by1, bx2, by2 = (b[None, :, i] for i in range(4))
    iw = np.maximum(0.0, np.minimum(ax2, bx2) - np.maximum(ax1, bx1) + 1)
    ih = np.maximum(0.0, np.minimum(ay2, by2) - np.maximum(ay1, by1) + 1)
    inter = iw * ih
    area_a = (ax2 - ax1 + 1) * (ay2 - ay1 + 1)
    area_b = (bx2 - bx1 + 1) * (by2 - by1 + 1)
    return inter / (area_a + area_b - inter)


def decode(
    outputs: Mapping[str, np.ndarray],
    input_hw: tuple[int, int],
    config: DecodeConfig = DecodeConfig(),
    scale: float | tuple[float, float] = 1.0,
) -> np.ndarray:
    """Face boxes ``(N, 5)`` = ``[x1, y1, x2, y2, score]`` from one image's six outputs.

    ``input_hw`` is the network input size (boxes are clipped to it); boxes are then
    divided by ``scale`` (``(sy, sx)`` or one number), the factor the image was resized
    by to fit the network, so they land in the original image's pixels.
    """
    height, width = input_hw
    proposals, scores = [], []
    for s, cls_name, bbox_name in config.heads:
        prob = np.asarray(outputs[cls_name], dtype=np.float32)
        deltas = np.asarray(outputs[bbox_name], dtype=np.float32)
        fh, fw = deltas.shape[2], deltas.shape[3]
        face = prob[0, NUM_ANCHORS:, :fh, :fw]  # A, H, W
        face = face.transpose(1, 2, 0).reshape(-1)
        d = deltas[0].transpose(1, 2, 0).reshape(-1, 4)  # (H, W, A*4) -> (H*W*A, 4)
        # Upstream keeps the best anchors of each stride, NMS's the rest, then thresholds: thresholding
        # first gives the same boxes, since greedy NMS never lets a lower score remove a higher one.
        best = np.argsort(-face, kind="stable")[: config.pre_nms_top_n]
        best = best[face[best] >= config.score_threshold]
        if not best.size:
            continue
        boxes = clip_boxes(apply_deltas(anchor_grid(fh, fw, s)[best], d[best]), height, width)
        # A box clipped to nothing (zero width or height, beyond the picture's edge) is no face.
        real = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        proposals.append(boxes[real])
        scores.append(face[best][real])
    if not proposals:
        return np.zeros((0, 5), dtype=np.float32)
    dets = np.hstack([np.vstack(proposals), np.concatenate(scores)[:, None]]).astype(np.float32)
    dets = dets[nms(dets, config.nms_threshold)]
    sy, sx = (scale, scale) if np.isscalar(scale) else scale
    dets[:, [0, 2]] /= sx
    dets[:, [1, 3]] /= sy
    return dets


@dataclass(frozen=True)
class DetectionParity:
    """How one engine's faces compare with a reference's on one picture.

    ``reference``/``candidate`` count boxes at or above the score threshold. A reference face
    clearly above it (by more than the slack) with no candidate box at IoU >= the IoU
    threshold is *missed*; a candidate box clearly above it with no reference box is *extra*.
    Boxes within the slack of the threshold may fall either side of it without counting.
    """

    reference: int
    candidate: int
    matched: int
    max_box_drift: float  # largest |coordinate difference| in pixels among matched pairs
    max_score_drift: float
    missed: int = 0
    extra: int = 0
    reference_clear: int = 0  # reference boxes clearly above the threshold (by more than the slack): recall's base
    candidate_clear: int = 0  # candidate boxes clearly above it: precision's base

    @property
    def matched_fraction(self) -> float:
        total = max(self.reference, self.candidate)
        return 1.0 if total == 0 else min(1.0, self.matched / total)

    @property
    def passed(self) -> bool:
        return self.missed == 0 and self.extra == 0


def match_detections(
    reference: np.ndarray, candidate: np.ndarray, iou_threshold: float = 0.5,
    score_threshold: float = 0.0, slack: float = 0.0,
    reference_pool: np.ndarray | None = None, candidate_pool: np.ndarray | None = None,
) -> DetectionParity:  # fmt: skip
    """Greedy one-to-one matching by IoU, best reference score first.

    Both sides should be decoded down to ``score_threshold - slack``, so that a face just
    under the threshold on one side can still pair with the same face just above it on the other.
    The pools, when given, are each side's boxes before NMS (same threshold): a face is only
    *missed* if no box of the candidate's pool lies on it, and a box only *extra* if none of
    the reference's pool does. Where boxes overlap and score alike, NMS may keep one in one
    engine and its neighbour in the other; that is not a lost face.
    """
    iou = iou_matrix(reference, candidate)
    used = np.zeros(len(candidate), dtype=bool)
    paired = np.zeros(len(reference), dtype=bool)
    matched, box_drift, score_drift = 0, 0.0, 0.0
    for i in np.argsort(-reference[:, 4], kind="stable") if len(reference) else []:
        if not len(candidate):
            break
        row = np.where(used, -1.0, iou[i])
        j = int(row.argmax())
        if row[j] >= iou_threshold:
            used[j] = paired[i] = True
            if max(reference[i, 4], candidate[j, 4]) >= score_threshold:
                matched += 1
                box_drift = max(box_drift, float(np.abs(reference[i, :4] - candidate[j, :4]).max()))
                score_drift = max(score_drift, float(abs(reference[i, 4] - candidate[j, 4])))
    clear = score_threshold + slack
    if reference_pool is not None and candidate_pool is not None:
        paired = paired | _covered(reference, candidate_pool, iou_threshold)
        used = used | _covered(candidate, reference_pool, iou_threshold)
    missed = int(((reference[:, 4] >= clear) & ~paired).sum()) if len(reference) else 0
    extra = int(((candidate[:, 4] >= clear) & ~used).sum()) if len(candidate) else 0

    def above(boxes: np.ndarray, threshold: float) -> int:
        return int((boxes[:, 4] >= threshold).sum()) if len(boxes) else 0

    return DetectionParity(above(reference, score_threshold), above(candidate, score_threshold), matched, box_drift,
                           score_drift, missed, extra, above(reference, clear), above(candidate, clear))  # fmt: skip


def _covered(boxes: np.ndarray, pool: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Which of ``boxes`` has some box of ``pool`` on it (IoU >= ``iou_threshold``)."""
    if not len(boxes) or not len(pool):
        return np.zeros(len(boxes), dtype=bool)
    return iou_matrix(boxes, pool).max(axis=1) >= iou_threshold
