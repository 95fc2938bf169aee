"""Average precision: right on hand-counted cases, and it drops for each kind of wrong answer."""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.dataset.voc_ap import average_precision, face_boxes, match_image
from sshconv.dataset.wider import Face

pytestmark = pytest.mark.quick

FACES = [Face(10, 10, 40, 50), Face(100, 100, 30, 36), Face(200, 50, 12, 14)]  # the last one is under 24 px


def _dets(*rows):
    return np.array(rows, np.float32).reshape(-1, 5)


def _on(face: Face, score: float, shift: float = 0.0):
    return [face.x + shift, face.y, face.x + face.w - 1 + shift, face.y + face.h - 1, score]


def test_every_face_found_and_nothing_else_is_1():
    res = average_precision([(_dets(_on(FACES[0], 0.9), _on(FACES[1], 0.8)), face_boxes(FACES))])
    assert res.ap == pytest.approx(1.0) and res.faces == 2 and res.recall == 1.0


def test_a_detection_on_a_small_face_is_neither_hit_nor_false_alarm():
    res = average_precision([(_dets(_on(FACES[0], 0.9), _on(FACES[2], 0.95), _on(FACES[1], 0.8)), face_boxes(FACES))])
    assert res.ap == pytest.approx(1.0) and res.detections == 2
    # counted with min_height=0 it is a face to find, and it was found
    assert average_precision([(_dets(_on(FACES[2], 0.95)), face_boxes(FACES))], min_height=0).faces == 3


def test_a_missed_face_halves_it():
    assert average_precision([(_dets(_on(FACES[0], 0.9)), face_boxes(FACES))]).ap == pytest.approx(0.5)


def test_a_better_scored_false_alarm_costs_precision():
    dets = _dets([300, 300, 340, 340, 0.99], _on(FACES[0], 0.9), _on(FACES[1], 0.8))
    # precision 1/2 at recall 1/2, 2/3 at recall 1: (0.5 * 2/3) + (0.5 * 2/3)
    assert average_precision([(dets, face_boxes(FACES))]).ap == pytest.approx(2 / 3)


def test_a_box_beside_the_face_is_no_hit_and_a_duplicate_is_a_false_alarm():
    assert average_precision([(_dets(_on(FACES[0], 0.9, shift=25)), face_boxes(FACES[:1]))]).ap == 0.0
    scores, hits = match_image(_dets(_on(FACES[0], 0.9), _on(FACES[0], 0.8, shift=1)), face_boxes(FACES[:1]))
    assert hits.tolist() == [True, False] and scores.tolist() == pytest.approx([0.9, 0.8])


def test_images_without_faces_only_add_false_alarms():
    empty = face_boxes([])
    assert average_precision([(_dets([1, 1, 30, 30, 0.7]), empty)]).ap == 0.0
    two = average_precision([(_dets(_on(FACES[0], 0.9), _on(FACES[1], 0.8)), face_boxes(FACES)),
                             (_dets([1, 1, 30, 30, 0.85]), empty)])  # fmt: skip
    assert two.ap == pytest.approx(0.5 + 0.5 * 2 / 3)
