"""The accuracy checker's WIDER FACE mAP, one photo at a time, then over rows sorted by score.

What the zoo's ssh-mxnet configuration does after the adapter (:mod:`.omz`), in its order:

1. ``cast_to_int``: every box corner, annotation and prediction, rounded to the nearest
   integer (``np.rint``);
2. ``clip_boxes`` (size 1024, annotation only): annotation corners clipped to 0..1024;
3. ``filter`` (annotation only): faces whose height ``y_max - y_min`` is outside
   ``[64, 1024)``, or that are empty, are ignored ("difficult"), not removed;
4. ``map`` (``ignore_difficult``, ``include_boundaries``, IoU 0.5, VOC "max" integral):
   detections sorted by score over the whole set; each, in turn, goes to the face of its
   photo it overlaps most (ignored faces only when no counted face reaches 0.5): a counted
   face not yet taken makes it a true positive, a taken one a false positive; an ignored
   face makes it neither (a second detection on the same ignored face is a false positive);
   below 0.5 it is a false positive. Precision and recall at every detection, the
   precision envelope, the area under it.

Matching only looks at the photo's own faces, so it is done per photo (:func:`match_photo`)
in that photo's score order, and only each counted detection's score and kind is kept.
:func:`average_precision` then reads those rows best score first from any iterable (the
ledger streams them from disk), so no step holds the whole dataset.
A WIDER annotation is ``x y w h``; the converter makes it ``x, y, x + w, y + h``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .omz import CLIP_SIZE, HEIGHT_RANGE, OVERLAP_THRESHOLD

#: Points kept for a precision-recall plot (the AP itself uses every row).
CURVE_POINTS = 200


@dataclass(frozen=True)
class Annotation:
    """One photo's faces as the metric sees them: integer corners and which are ignored."""

    boxes: np.ndarray  # (G, 4) float64 x1, y1, x2, y2
    ignored: np.ndarray  # (G,) bool

    @property
    def counted(self) -> int:
        return int((~self.ignored).sum())


def annotation(faces_xywh: Sequence[Sequence[float]]) -> Annotation:
    """Steps 1-3 for one photo's ``x y w h`` faces."""
    xywh = np.asarray(faces_xywh, dtype=np.float64).reshape(-1, 4)
    boxes = np.rint(np.c_[xywh[:, 0], xywh[:, 1], xywh[:, 0] + xywh[:, 2], xywh[:, 1] + xywh[:, 3]])
    boxes = np.clip(boxes, 0, CLIP_SIZE)
    height = boxes[:, 3] - boxes[:, 1]
    empty = (boxes[:, 2] - boxes[:, 0] <= 0) | (height <= 0)
    ignored = (height < HEIGHT_RANGE[0]) | (height >= HEIGHT_RANGE[1]) | empty
    return Annotation(boxes, ignored)


def _iou(boxes: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N, G)`` IoU with the checker's +1 convention, element by element its arithmetic (a disjoint pair
    still "intersects" by one pixel, as there)."""
    b, g = boxes[:, None, :], gt[None, :, :]
    x1, y1 = np.maximum(g[..., 0], b[..., 0]), np.maximum(g[..., 1], b[..., 1])
    x2, y2 = np.maximum(x1, np.minimum(g[..., 2], b[..., 2])), np.maximum(y1, np.minimum(g[..., 3], b[..., 3]))
    inter = (x2 - x1 + 1) * (y2 - y1 + 1)
    union = (
        (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
        + (g[..., 2] - g[..., 0] + 1) * (g[..., 3] - g[..., 1] + 1)
        - inter
    )
    return np.divide(inter, union, out=np.zeros_like(inter, dtype=float), where=union != 0)


@dataclass
class PhotoMatch:
    """One photo's counted detections: score and true/false positive, best score first."""

    scores: np.ndarray  # float64
    positive: np.ndarray  # bool: True positive (else false positive)
    faces: int  # counted faces of the photo


def match_photo(dets: np.ndarray, truth: Annotation, iou: float = OVERLAP_THRESHOLD) -> PhotoMatch:
    """Step 4's matching for one photo's adapter detections ``(N, 5)`` (corners, score)."""
    order = np.argsort(-dets[:, 4], kind="stable")
    boxes = np.rint(dets[order, :4])
    scores = dets[order, 4].astype(np.float64)
    tp = np.zeros(len(order), dtype=bool)
    fp = np.zeros(len(order), dtype=bool)
    gt, ignored = truth.boxes, truth.ignored
    if not len(gt):
        fp[:] = True
    else:
        used = np.zeros(len(gt), dtype=bool)
        all_overlaps = _iou(boxes, gt)
        near = all_overlaps.max(axis=1) >= iou
        fp[~near] = True  # below the threshold with every face: the checker's answer is a false positive
        for i in np.flatnonzero(near):  # in score order: which face a detection takes depends on the ones before
            overlaps = all_overlaps[i]
            counted = overlaps[~ignored]
            best = counted.max() if counted.size else -np.inf
            if best < iou and ignored.any():
                best = overlaps[ignored].max()
            if best < iou:
                fp[i] = True
                continue
            hit = overlaps == best
            if not ignored[hit].any():
                if used[hit].any():
                    fp[i] = True
                else:
                    tp[i] = True
                    used[hit] = True
            else:
                fp[i] = bool(used[hit].any())
                used[hit] = True
    keep = tp | fp
    return PhotoMatch(scores[keep], tp[keep], truth.counted)


@dataclass
class APResult:
    ap: float  # 0..1
    faces: int
    detections: int  # counted detections (true + false positives)
    true_positives: int
    curve: list[tuple[float, float]] = field(default_factory=list)  # (recall, precision), recall ascending

    @property
    def map_percent(self) -> float:
        return 100.0 * self.ap


def average_precision(rows_low_to_high: Iterable[tuple[float, bool]], faces: int, true_positives: int, rows: int) -> APResult:
    """VOC "max" AP from every counted detection, read **worst score first** (so it streams).

    ``rows_low_to_high`` yields ``(score, is_true_positive)`` in the exact reverse of the
    checker's best-first order; ``faces``, ``true_positives`` and ``rows`` are the totals.
    At best-first position k, precision is TP_k / k and recall TP_k / faces; the area is
    the sum of each recall step times the highest precision at or after it.
    """
    if rows == 0 or faces == 0:
        return APResult(0.0, faces, rows, true_positives)
    eps = np.finfo(float).eps
    n = max(faces, eps)
    k, tp_k = rows, true_positives
    envelope, area = 0.0, 0.0
    # The curve's corners: each true positive (recall steps up) and the row ranked just above it
    # (the lowest precision before the step), plus the ends; thinned to CURVE_POINTS for the page.
    corners: list[tuple[float, float]] = [(tp_k / n, tp_k / max(k, eps))]
    previous = corners[0]
    for _score, positive in rows_low_to_high:
        precision = tp_k / max(k, eps)
        envelope = max(envelope, precision)
        before = tp_k - (1 if positive else 0)
        point = (tp_k / n, precision)
        if positive:
            area += (tp_k / n - before / n) * envelope
            corners += [previous, point]
        previous = point
        k, tp_k = k - 1, before
    corners.append(previous)
    corners.reverse()
    keep = max(1, len(corners) // CURVE_POINTS)
    curve = corners[::keep] if keep > 1 else corners
    return APResult(float(area), faces, rows, true_positives, curve)


def average_precision_of(matches: Iterable[PhotoMatch]) -> APResult:
    """AP of photos held in memory (tests and small sets); equal scores in the ledger's order."""
    matches = list(matches)
    keys = [(float(s), p, i, r) for i, m in enumerate(matches) for r, (s, p) in enumerate(zip(m.scores, m.positive))]
    keys.sort(key=lambda t: (t[0], t[2], t[3]))  # worst first, as the ledger reads them
    faces = sum(m.faces for m in matches)
    tps = sum(int(m.positive.sum()) for m in matches)
    return average_precision(((s, bool(p)) for s, p, _, _ in keys), faces, tps, len(keys))
