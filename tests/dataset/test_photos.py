"""`sshconv photos`: labelled photos in WIDER FACE's exact layout and format, the same files for the same seed."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from sshconv.dataset.photos import FACE_HEIGHTS, make_photos
from sshconv.dataset.wider import GT_NAME, read_gt
from sshconv.detection.images import load_bgr
from sshconv.errors import InputError

from ..conftest import assert_one_line_error, run_cli, run_sshconv

pytestmark = pytest.mark.quick


def _digests(folder):
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_layout_format_and_boxes(tmp_path):
    out = tmp_path / "photos"
    res = run_cli("photos", "--output-dir", out, "--count", "40", "--seed", "5", "--json", "--progress", "json")
    assert res.code == 0, res.err
    summary = json.loads(res.out)
    assert summary["photos"] == 40 and summary["faces"] > 40 and summary["face_free"] > 0
    events = [json.loads(line) for line in res.err.splitlines()]
    assert [e["event"] for e in events][:1] == ["start"] and events[-1]["event"] == "done"
    assert sum(e["event"] == "progress" for e in events) == 40
    photos = list(read_gt(out / GT_NAME))
    assert len(photos) == 40 and sum(len(p.faces) for p in photos) == summary["faces"]
    lines = (out / GT_NAME).read_text().splitlines()
    assert lines[0] == photos[0].path and lines[1] == str(len(photos[0].faces))
    empty = next(p for p in photos if not p.faces)
    at = lines.index(empty.path)
    assert lines[at + 1 : at + 3] == ["0", "0 0 0 0 0 0 0 0 0 0"], "a face-free photo as WIDER writes it"
    heights, events_seen = [], set()
    for p in photos:
        event, name = p.path.split("/")
        assert event.split("--")[0].isdigit() and name.endswith(".jpg")
        events_seen.add(event)
        img = load_bgr(out / "images" / p.path)
        h, w = img.shape[:2]
        for f in p.faces:
            assert 0 <= f.x and 0 <= f.y and f.x + f.w <= w and f.y + f.h <= h, (p.path, f)
            assert f.occlusion in (0, 1, 2) and f.pose in (0, 1) and f.illumination in (0, 1) and f.invalid == 0
            heights.append(f.h)
    assert len(events_seen) > 3 and FACE_HEIGHTS[0] <= min(heights) and max(heights) <= FACE_HEIGHTS[1]
    assert min(heights) < 40 and max(heights) > 150, "small and large faces"
    sizes = {load_bgr(out / "images" / p.path).shape[:2] for p in photos}
    assert len(sizes) > 20, "varied photo sizes"


def test_a_drawn_face_is_where_its_box_says(tmp_path):
    """Inside a box the picture is the face's tone; the JPEG holds what the ground truth says."""
    res = make_photos(tmp_path / "p", count=12, seed=11)
    p = next(p for p in res.photos if any(f.h > 60 and f.occlusion == 0 for f in p.faces))
    f = next(f for f in p.faces if f.h > 60 and f.occlusion == 0)
    img = load_bgr(res.folder / "images" / p.path).astype(float)
    centre = img[f.y + f.h // 2 - 3 : f.y + f.h // 2 + 3, f.x + f.w // 2 - 3 : f.x + f.w // 2 + 3]
    corner = img[f.y : f.y + 2, f.x : f.x + 2]  # outside the oval, inside the box: the background
    assert np.abs(centre.mean(axis=(0, 1)) - corner.mean(axis=(0, 1))).max() > 10


def test_the_same_seed_gives_the_same_files_another_seed_others(tmp_path):
    make_photos(tmp_path / "a", count=8, seed=3)
    proc = run_sshconv("photos", "--output-dir", tmp_path / "b", "--count", "8", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    make_photos(tmp_path / "c", count=8, seed=4)
    assert _digests(tmp_path / "a")[GT_NAME] != _digests(tmp_path / "c")[GT_NAME]


def test_bad_arguments_and_bad_ground_truth(tmp_path):
    assert_one_line_error(run_cli("photos", "--output-dir", tmp_path, "--count", "0"), 2, "--count 0: expected at least 1 photo")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run_cli("photos", "--output-dir", blocker, "--count", "1"), 2, str(blocker))
    bad = tmp_path / "gt.txt"
    bad.write_text("0--Parade/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n")
    with pytest.raises(InputError, match=r"gt.txt: line \d+: not WIDER FACE's format"):
        list(read_gt(bad))
    bad.write_text("0--Parade/a.jpg\nmany\n")
    with pytest.raises(InputError, match="not WIDER FACE's format"):
        list(read_gt(bad))
