"""Average precision of face boxes against labelled photos (PASCAL VOC style, all-point interpolation).

Detections are matched to faces best score first; a detection is a hit if its best IoU
(with the +1 pixel convention of the decoder) is at least ``iou`` with a face not yet
taken. Faces shorter than ``min_height`` are "don't care": a detection on one counts
neither as a hit nor as a false alarm, and they are not among the faces to find.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..detection.boxes import iou_matrix
from .wider import Face


@dataclass(frozen=True)
class APResult:
    ap: float
    faces: int  # faces to find (at least min_height tall)
    detections: int  # detections counted (hits + false alarms)
    recall: float  # at the lowest score given

    def to_dict(self) -> dict:
        return {"ap": round(self.ap, 6), "faces": self.faces, "detections": self.detections, "recall": round(self.recall, 6)}


def face_boxes(faces: Sequence[Face]) -> np.ndarray:
    """``(N, 5)`` boxes ``[x1, y1, x2, y2, height]`` in inclusive pixel corners, as the decoder reports them."""
    return np.array([[f.x, f.y, f.x + f.w - 1, f.y + f.h - 1, f.h] for f in faces], np.float32).reshape(-1, 5)


def match_image(dets: np.ndarray, faces: np.ndarray, iou: float = 0.5, min_height: float = 24) -> tuple[np.ndarray, np.ndarray]:
    """Scores and hit flags of one image's counted detections (``faces`` as :func:`face_boxes` gives)."""
    dets = dets[np.argsort(-dets[:, 4], kind="stable")] if len(dets) else np.zeros((0, 5), np.float32)
    overlaps = iou_matrix(dets, faces) if len(faces) else np.zeros((len(dets), 0))
    small = faces[:, 4] < min_height
    taken = np.zeros(len(faces), bool)
    scores, hits = [], []
    for i in range(len(dets)):
        j = int(overlaps[i].argmax()) if len(faces) else -1
        if j >= 0 and overlaps[i, j] >= iou:
            if small[j]:
                continue
            if not taken[j]:
                taken[j] = True
                scores.append(dets[i, 4])
                hits.append(True)
                continue
        scores.append(dets[i, 4])
        hits.append(False)
    return np.array(scores, np.float32), np.array(hits, bool)


def average_precision(images: Iterable[tuple[np.ndarray, np.ndarray]], iou: float = 0.5, min_height: float = 24) -> APResult:
    """AP over ``(detections, face boxes)`` pairs, one per image."""
    all_scores, all_hits, positives = [], [], 0
    for dets, faces in images:
        scores, hits = match_image(dets, faces, iou, min_height)
        all_scores.append(scores)
        all_hits.append(hits)
        positives += int((faces[:, 4] >= min_height).sum())
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    hits = np.concatenate(all_hits) if all_hits else np.zeros(0, bool)
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = tp / max(positives, 1)
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # the precision envelope
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    ap = float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1])) if positives else 0.0
    return APResult(ap, positives, len(scores), float(recall[-1]) if len(recall) else 0.0)
