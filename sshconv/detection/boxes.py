"""Box arithmetic every stage shares, in upstream's pixel convention (a box ``x1..x2`` is ``x2 - x1 + 1`` wide).

The R-CNN delta transform, clipping to a picture, greedy NMS and the IoU matrix: the
decoder, training's anchor assignment, matching and the metrics all use these.
"""

from __future__ import annotations

import numpy as np


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
