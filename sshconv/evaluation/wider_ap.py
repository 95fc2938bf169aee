"""WIDER FACE's official evaluation (the MATLAB ``eval_tools``), reproduced number for number.

What the official code does, in its order, with the quirks that change numbers:

* every photo's detections are read from its submission file and sorted by score, highest
  first, ties kept in the file's order (MATLAB's ``sort`` is stable);
* scores are normalised over the whole dataset: ``(s - min) / (max - min)``, min and max over
  every detection of every photo the ground truth lists;
* per setting (Easy, Medium, Hard) and photo, boxes ``x y w h`` become ``x1 y1 x2 y2`` with
  ``x2 = x + w`` (not ``x + w - 1``), and each detection, in score order, is compared with
  every face by the Pascal overlap with its +1 widths. **The faces' boxes are int32 in the
  .mat file, so MATLAB computes the overlap in int32**: the detection's corners and the union
  are rounded, and the overlap itself is rounded to 0 or 1. The face a detection lands on is
  therefore the *first* face it overlaps by at least one half, not the best one;
* that face ignored (not in ``gt_list``): the detection is no proposal at all; counted and not
  yet found: found; found already: the detection is a proposal that found nothing;
* a photo without a detection, or without a face row, adds nothing but its faces to the count;
  a face-free photo has one row of zeros (a 1 x 1 face at the corner that nothing counts), so
  its detections are all proposals that found nothing;
* at 1,000 thresholds ``1 - t/1000`` (t = 1..1000) each photo adds its proposals and found
  faces among the detections at or above it; precision = found / proposals (0/0 is NaN),
  recall = found / faces of the setting;
* AP is VOC's: the precision envelope from the right (MATLAB's ``max`` skips NaN), summed
  over the points where recall changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..dataset.wider_mat import WiderTruth

THRESHOLDS = 1000
IOU_THRESHOLD = 0.5
#: The starting min and max of the official normalisation (MATLAB's realmax and realmin of single).
_REALMAX_SINGLE = float(np.finfo(np.float32).max)
_REALMIN_SINGLE = float(np.finfo(np.float32).tiny)
_INT32 = np.iinfo(np.int32)
#: Detections compared with a photo's faces at a time (memory: this many times the faces, a few arrays of it).
CHUNK = 256
#: ``(event, name)`` -> ``(N, 5)`` ``x y w h score``, or a function giving such pairs (called twice: for the
#: normalisation, then for the evaluation), so that a dataset's detections need not all be in memory at once.
Predictions = Mapping[tuple[str, str], np.ndarray] | Callable[[], Iterable[tuple[tuple[str, str], np.ndarray]]]


@dataclass(frozen=True)
class WiderAP:
    ap: float | None  # None where the setting counts no face
    faces: int
    precision: np.ndarray  # (THRESHOLDS,) as the official pr_cruve(:, 1), NaN where nothing was proposed
    recall: np.ndarray  # (THRESHOLDS,)

    def curve(self) -> list[tuple[float, float]]:
        """(recall, precision) points where precision is defined, for a plot."""
        ok = np.isfinite(self.precision) & np.isfinite(self.recall)
        return [(float(r), float(p)) for r, p in zip(self.recall[ok], self.precision[ok])]


def sort_detections(dets: np.ndarray) -> np.ndarray:
    """``(N, 5)`` ``x y w h score`` in the official order: score descending, ties in their given order."""
    dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
    return dets[np.argsort(-dets[:, 4], kind="stable")]


def score_range(rows: Iterable[tuple[tuple[str, str], np.ndarray]], listed: set) -> tuple[float, float]:
    """``norm_score.m``'s min and max: over every detection of every photo ``listed``, from single's realmax / realmin."""
    hi, lo = _REALMIN_SINGLE, _REALMAX_SINGLE
    for key, dets in rows:
        if key in listed and len(dets):
            hi, lo = max(hi, float(np.max(dets[:, 4]))), min(lo, float(np.min(dets[:, 4])))
    return lo, hi


def _round(x: np.ndarray) -> np.ndarray:
    """MATLAB's conversion of a double to int32: to nearest, halves away from zero, saturating."""
    with np.errstate(invalid="ignore"):
        return np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), _INT32.min, _INT32.max)


def landed(dets: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """For each detection, the face (0-based) it lands on, or -1: ``boxoverlap.m`` on int32 faces, then ``max``."""
    if not len(dets) or not len(faces):
        return np.full(len(dets), -1, dtype=np.int64)
    if len(dets) > CHUNK:
        return np.concatenate([landed(dets[i : i + CHUNK], faces) for i in range(0, len(dets), CHUNK)])
    g = faces.astype(np.float64)
    gx1, gy1, gx2, gy2 = g[:, 0], g[:, 1], g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
    d = dets.astype(np.float64)
    px1, py1 = d[:, 0:1], d[:, 1:2]
    px2, py2 = px1 + d[:, 2:3], py1 + d[:, 3:4]
    x1, y1 = _round(np.maximum(gx1, px1)), _round(np.maximum(gy1, py1))
    x2, y2 = _round(np.minimum(gx2, px2)), _round(np.minimum(gy2, py2))
    w, h = x2 - x1 + 1, y2 - y1 + 1
    inter = _round(w * h)
    face_area = _round((gx2 - gx1 + 1) * (gy2 - gy1 + 1))
    det_area = (px2 - px1 + 1) * (py2 - py1 + 1)
    union = _round(_round(face_area + det_area) - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = _round(inter / union)
    overlap[(union == 0) & (inter == 0)] = 0  # MATLAB's int32 0/0 is 0 (x/0 saturates, as _round does)
    overlap[(w <= 0) | (h <= 0)] = 0
    first = np.argmax(overlap, axis=1)  # the first of the largest, as MATLAB's max
    best = overlap[np.arange(len(d)), first]
    return np.where(best >= IOU_THRESHOLD, first, -1)


def photo_counts(dets: np.ndarray, faces: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``(THRESHOLDS, 2)`` proposals and found faces at each threshold for one photo (``dets`` sorted, normalised)."""
    face_of = landed(dets, faces)
    counted = np.zeros(len(faces), dtype=bool)
    counted[keep - 1] = True
    hit = face_of >= 0
    proposal = ~(hit & ~counted[np.where(hit, face_of, 0)])
    # a counted face is found by the first detection that lands on it
    firsts = np.zeros(len(dets), dtype=bool)
    hit_counted = hit & counted[np.where(hit, face_of, 0)]
    if hit_counted.any():
        _, first_at = np.unique(face_of[hit_counted], return_index=True)
        firsts[np.flatnonzero(hit_counted)[first_at]] = True
    found = np.cumsum(firsts)
    proposals = np.cumsum(proposal)
    thresholds = 1 - np.arange(1, THRESHOLDS + 1) / THRESHOLDS
    # the last detection at or above each threshold: scores are sorted (highest first), so it is their count;
    # scores that are all equal normalise to NaN (0/0), which no threshold reaches
    scores = dets[:, 4]
    if np.isnan(scores).any():
        above = np.zeros(THRESHOLDS, dtype=np.int64)
    else:
        above = np.searchsorted(-scores, -thresholds, side="right")
    out = np.zeros((THRESHOLDS, 2))
    some = above > 0
    out[some, 0] = proposals[above[some] - 1]
    out[some, 1] = found[above[some] - 1]
    return out


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """``VOCap.m``: the envelope from the right with NaN skipped as MATLAB's ``max`` skips it."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = np.fmax(mpre[i], mpre[i + 1])
    changes = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[changes] - mrec[changes - 1]) * mpre[changes]))


def setting_ap(totals: np.ndarray, faces: int) -> WiderAP:
    """One setting's AP from the photos' summed counts and the faces it counts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = totals[:, 1] / totals[:, 0]
        recall = totals[:, 1] / faces if faces else np.full(THRESHOLDS, np.nan)
    return WiderAP(voc_ap(recall, precision) if faces else None, faces, precision, recall)


def wider_aps(truth: WiderTruth, predictions: Predictions) -> dict[str, WiderAP]:
    """Easy, Medium and Hard of ``predictions`` (``x y w h score`` as submitted, per ``(event, name)``).

    A photo no setting lists is left out, as the official reader never opens its file; one listed without
    detections adds its faces to the count only.
    """
    rows = (lambda: predictions.items()) if isinstance(predictions, Mapping) else predictions
    listed = set(truth.listed)
    lo, hi = score_range(rows(), listed)
    by_key = {s: {(p.event, p.name): p for p in photos} for s, photos in truth.settings.items()}
    totals = {s: np.zeros((THRESHOLDS, 2)) for s in truth.settings}
    for key, dets in rows():
        if key not in listed or not len(dets):
            continue
        dets = sort_detections(dets)
        with np.errstate(divide="ignore", invalid="ignore"):
            dets[:, 4] = (dets[:, 4] - lo) / (hi - lo)
        for s, photos in by_key.items():
            p = photos.get(key)
            if p is not None and len(p.boxes):
                totals[s] += photo_counts(dets, p.boxes, p.keep)
    return {s: setting_ap(totals[s], truth.faces(s)) for s in truth.settings}
