"""The synthetic checkpoint, converted, finds drawn faces and nothing on pictures without one.

A small sample of what scripts/measure_detector.py measures at scale (README gives those
figures); the bounds here leave room for a sample of 16 photos. The metric is shown to be
able to fail on this detector too: boxes moved by half a face find nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.dataset.photos import FACE_FREE_KINDS, face_free_picture, make_photos
from sshconv.dataset.voc_ap import average_precision, face_boxes
from sshconv.dataset.wider import IMAGES
from sshconv.deploy.detect import detect_faces
from sshconv.detection.images import load_bgr
from sshconv.runtimes.openvino import OpenVINORunner

#: Stack-neutral (one OpenVINO IR): proven once, on the runtime stack.
pytestmark = pytest.mark.neutral

#: Seeds of the photos here: not the training stream, not scripts/measure_detector.py's.
SEED = 31


@pytest.fixture(scope="module")
def found(converted_dir, tmp_path_factory):
    photos = make_photos(tmp_path_factory.mktemp("photos"), 16, SEED)
    pictures = [load_bgr(photos.folder / IMAGES / p.path) for p in photos.photos]
    rng = np.random.default_rng(SEED)
    plain = [np.ascontiguousarray(face_free_picture(rng, FACE_FREE_KINDS[i % 3], 480, 640)[:, :, ::-1]) for i in range(6)]
    with OpenVINORunner(converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml") as runner:
        hw = (640, 640)
        right = [(detect_faces(runner, bgr, hw, 0.05), face_boxes(p.faces)) for bgr, p in zip(pictures, photos.photos)]
        false_alarms = [len(detect_faces(runner, bgr, hw, 0.5)) for bgr in plain]
    return right, None, false_alarms


def test_faces_are_found(found):
    right, _, _ = found
    res = average_precision(right)
    assert res.faces >= 15, "the sample should hold enough faces to judge"
    assert res.ap >= 0.6, res


def test_nothing_is_found_on_noise_gradients_or_flat_colours(found):
    assert sum(found[2]) == 0, found[2]


def test_the_same_boxes_moved_by_half_a_face_score_nothing(found):
    right, _, _ = found
    moved = []
    for dets, faces in right:
        shifted = dets.copy()
        shifted[:, [0, 2]] += 0.6 * (dets[:, 2] - dets[:, 0] + 1)[:, None]
        moved.append((shifted, faces))
    assert average_precision(moved).ap < 0.1
