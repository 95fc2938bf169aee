"""Do two engines find the same faces: matching, the score slack, and boxes NMS kept in one engine only."""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.detection.match import match_detections

pytestmark = pytest.mark.quick


def test_detection_parity_counts_missed_and_extra_faces_beyond_the_slack():
    ref = np.array([[10, 10, 50, 60, 0.95], [100, 100, 140, 150, 0.9], [200, 10, 240, 60, 0.51]], np.float32)
    same = match_detections(ref, ref.copy(), score_threshold=0.5, slack=0.02)
    assert (same.matched, same.missed, same.extra, same.passed) == (3, 0, 0, True)
    # A face just over the threshold on one side and just under on the other is within the slack.
    near = ref.copy()
    near[2, 4] = 0.49
    assert match_detections(ref, near, score_threshold=0.5, slack=0.02).passed
    # A clear face lost, one moved off its face, and one new: missed 2, extra 2.
    wrong = np.array([[10, 10, 50, 60, 0.95], [130, 100, 170, 150, 0.9], [300, 300, 340, 350, 0.8]], np.float32)
    got = match_detections(ref[:2], wrong, score_threshold=0.5, slack=0.02)
    assert (got.reference, got.candidate, got.matched, got.missed, got.extra) == (2, 3, 1, 1, 2)
    assert not got.passed
    # A clear score drift on a matched face is no miss, but it is reported.
    drift = ref.copy()
    drift[0, 4] = 0.7
    got = match_detections(ref, drift, score_threshold=0.5, slack=0.02)
    assert got.passed and got.max_score_drift == pytest.approx(0.25)


def test_a_neighbour_kept_by_nms_in_one_engine_is_no_lost_face():
    """Two overlapping boxes that score alike: NMS keeps one in one engine, the other in the other."""
    a, b = [0, 0, 99, 99, 0.81], [30, 0, 129, 99, 0.80]  # IoU 0.54 > 0.3: NMS keeps only the better one
    near_b = [60, 0, 159, 99, 0.7]  # a third box, on b's far side (IoU with a: 0.25)
    ref, ref_pool = np.array([a], np.float32), np.array([a, b], np.float32)
    cand, cand_pool = np.array([near_b], np.float32), np.array([b, near_b], np.float32)
    cand[0, 4] = cand_pool[1, 4] = 0.82
    alone = match_detections(ref, cand, score_threshold=0.5, slack=0.02)
    assert (alone.missed, alone.extra) == (1, 1), "post-NMS boxes alone: the face looks lost"
    pooled = match_detections(ref, cand, score_threshold=0.5, slack=0.02, reference_pool=ref_pool, candidate_pool=cand_pool)
    assert pooled.passed
    # ...but a face with nothing at all on it in the other engine is still missed.
    gone = match_detections(ref, cand, score_threshold=0.5, slack=0.02, reference_pool=ref_pool,
                            candidate_pool=cand_pool[1:])  # fmt: skip
    assert gone.missed == 1
