"""Do two engines find the same faces? Greedy one-to-one matching of their boxes by IoU."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .boxes import iou_matrix


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
