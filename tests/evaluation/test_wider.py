"""WIDER FACE's official Easy/Medium/Hard: sshconv's against an independent implementation (and, where an Octave and
the official eval_tools are at hand, the official code itself), the .mat files, the submission files, upstream's scales."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sshconv.dataset.photos import make_photos
from sshconv.dataset.wider import Face, Photo
from sshconv.dataset.wider_mat import OFFICIAL_EVENTS, SETTINGS, photo_key, read_truth, settings_of, write_mats
from sshconv.errors import InputError
from sshconv.evaluation import upstream
from sshconv.evaluation.core import find_dataset
from sshconv.evaluation.submission import parse_lines, submission_lines, write_submissions
from sshconv.evaluation.wider_ap import wider_aps
from tests.conftest import ROOT, assert_one_line_error, run_cli

from . import wider_reference

pytestmark = pytest.mark.quick

SEEDS = (0, 1, 2, 3)


def _written(tmp_path: Path, seed: int, photos: int = 50):
    """A generated set as sshconv writes it: the four .mat files and a submission folder; sshconv's APs of it."""
    truth_photos, dets = wider_reference.generated_set(seed, photos)
    mats = tmp_path / f"gt{seed}"
    write_mats(mats, truth_photos)
    lines = {p.path: submission_lines(dets[p.path][np.argsort(-dets[p.path][:, 4], kind="stable")]) for p in truth_photos}
    folder = write_submissions(tmp_path / f"sub{seed}", ["e"], ((p.path, {"e": lines[p.path]}) for p in truth_photos))["e"]
    ours = wider_aps(read_truth(mats), {photo_key(k): parse_lines(v) for k, v in lines.items()})
    return mats, folder, ours


@pytest.mark.parametrize("seed", SEEDS)
def test_easy_medium_hard_equal_an_independent_implementation(tmp_path, seed):
    mats, folder, ours = _written(tmp_path, seed)
    theirs = wider_reference.evaluate(mats, folder)
    for s in SETTINGS:
        assert ours[s].ap == pytest.approx(theirs[s], abs=1e-4), s
        assert 0.05 < ours[s].ap < 0.95  # neither empty nor perfect: the set exercises misses and false positives


@pytest.mark.parametrize("rule", wider_reference.RULES)
def test_each_rule_of_the_official_code_changes_the_numbers(tmp_path, rule):
    """Breaking one rule (the int32 overlap, the face-free rows, the +1 widths, the normalisation) moves an AP by more
    than the tolerance on at least one generated set: agreeing with the independent implementation means something."""
    moved = 0.0
    for seed in SEEDS:
        mats, folder, ours = _written(tmp_path, seed)
        broken = wider_reference.evaluate(mats, folder, set(wider_reference.RULES) - {rule})
        moved = max(moved, *(abs(ours[s].ap - broken[s]) for s in SETTINGS))
    assert moved > 3e-4, f"turning off {rule} moved no AP by more than the tolerance (1e-4)"


@pytest.mark.skipif(not os.environ.get("SSHCONV_WIDER_EVAL_TOOLS") or shutil.which("octave") is None,
                    reason="needs GNU Octave and SSHCONV_WIDER_EVAL_TOOLS=<WIDER FACE's eval_tools folder>")  # fmt: skip
def test_easy_medium_hard_equal_the_official_matlab_code_under_octave():
    run = subprocess.run([sys.executable, ROOT / "scripts/wider_against_official.py", "--eval-tools",
                          os.environ["SSHCONV_WIDER_EVAL_TOOLS"], "--sets", "3", "--photos", "40"],
                         capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert float(run.stdout.strip().splitlines()[-1].split(":")[1]) < 1e-4
    shipped = Path(os.environ["SSHCONV_WIDER_EVAL_TOOLS"]) / "ground_truth"
    if shipped.is_dir():  # WIDER FACE's own .mat files, read as shipped
        truth = read_truth(shipped)
        assert len(truth.listed) == 3226 and [truth.faces(s) for s in SETTINGS] == [7211, 13319, 31958]


def test_submission_files_follow_the_official_format(tmp_path):
    photos, dets = wider_reference.generated_set(5, 30)
    lines = {p.path: submission_lines(dets[p.path]) for p in photos}
    folder = write_submissions(tmp_path / "s", ["ir/mo/FP32"], ((p.path, {"ir/mo/FP32": lines[p.path]}) for p in photos))
    assert folder["ir/mo/FP32"].name == "ir_mo_FP32"
    for p in photos:
        event, name = photo_key(p.path)
        text = (folder["ir/mo/FP32"] / event / f"{name}.txt").read_text().split("\n")
        assert text[0] == p.path.split("/")[-1] and int(text[1]) == len(dets[p.path])  # name, count, then the lines
        for k, row in enumerate(dets[p.path]):
            x, y, w, h, score = text[k + 2].split()
            assert (int(x), int(y), int(w), int(h)) == (int(np.float32(row[0])), int(np.float32(row[1])),
                                                        int(np.float32(row[2]) - np.float32(row[0])),
                                                        int(np.float32(row[3]) - np.float32(row[1])))  # fmt: skip
            assert float(score) == pytest.approx(row[4], rel=1e-5)
    # written again: the folder is replaced whole, nothing of the first run's left
    stray = folder["ir/mo/FP32"] / "stray.txt"
    stray.write_text("x")
    write_submissions(tmp_path / "s", ["ir/mo/FP32"], ((p.path, {"ir/mo/FP32": lines[p.path]}) for p in photos))
    assert not stray.exists() and not list((tmp_path / "s").glob(".*"))


def test_the_official_files_layout_and_rule(tmp_path):
    faces = (Face(0, 0, 60, 60), Face(0, 0, 30, 30), Face(0, 0, 60, 60, occlusion=1), Face(0, 0, 12, 12),
             Face(0, 0, 60, 60, invalid=1), Face(0, 0, 8, 8))  # fmt: skip
    assert [settings_of(f) for f in faces] == [SETTINGS, ("medium", "hard"), ("medium", "hard"), ("hard",), (), ()]
    photos = [Photo("0--Parade/a.jpg", faces), Photo("3--Riot/b.jpg", ())]
    write_mats(tmp_path, photos)
    truth = read_truth(tmp_path)
    assert len({e for e, _ in truth.listed}) == 2 and truth.listed == (("0--Parade", "a"), ("3--Riot", "b"))
    easy, hard = truth.settings["easy"], truth.settings["hard"]
    assert list(easy[0].keep) == [1] and list(hard[0].keep) == [1, 2, 3, 4]
    assert hard[1].boxes.tolist() == [[0, 0, 0, 0]] and len(hard[1].keep) == 0  # a face-free photo: one row of zeros
    import scipy.io

    assert scipy.io.loadmat(tmp_path / "wider_face_val.mat")["event_list"].shape == (OFFICIAL_EVENTS, 1)


def test_photos_write_the_official_layout_that_eval_finds(tmp_path):
    res = make_photos(tmp_path / "w", count=4, seed=3, layout="official")
    ds = find_dataset(tmp_path / "w")
    assert (
        ds.images == tmp_path / "w/WIDER_val/images"
        and ds.ground_truth == tmp_path / "w/wider_face_split/wider_face_val_bbx_gt.txt"
    )
    assert ds.mats == tmp_path / "w/eval_tools/ground_truth"
    truth = read_truth(ds.mats)
    assert truth.faces("hard") == sum(1 for p in res.photos for f in p.faces if "hard" in settings_of(f))
    plain = make_photos(tmp_path / "p", count=2, seed=3)
    assert find_dataset(tmp_path / "p").images == tmp_path / "p/images" and plain.mats


@pytest.mark.parametrize("damage", ["garbage", "no_gt_list", "index_out_of_range", "missing", "pipe"])
def test_a_bad_mat_file_is_one_line_exit_2(tmp_path, damage):
    make_photos(tmp_path / "d", count=2, seed=4)
    mats = tmp_path / "d/eval_tools/ground_truth"
    target = mats / "wider_hard_val.mat"
    if damage == "garbage":
        target.write_bytes(b"MATLAB 5.0 MAT-file" + os.urandom(300))
    elif damage == "missing":
        target.unlink()
    elif damage == "pipe":  # read, it would wait for ever
        target.unlink()
        os.mkfifo(target)
    else:
        import scipy.io

        m = scipy.io.loadmat(target)
        data = {k: v for k, v in m.items() if not k.startswith("__")}
        if damage == "no_gt_list":
            del data["gt_list"]
        else:
            cell = data["gt_list"][0, 0]
            cell[0, 0] = np.array([[99.0]])
        scipy.io.savemat(target, data)
    if damage != "missing":
        with pytest.raises(InputError, match="wider_hard_val.mat"):
            read_truth(mats)
    res = run_cli("eval", "--dataset", tmp_path / "d", "--onnx", tmp_path / "none.onnx", "--metric", "wider",
                  "--work-dir", tmp_path / "w")  # fmt: skip
    assert_one_line_error(res, 2, "wider_hard_val.mat" if damage not in ("missing", "pipe") else "eval_tools/ground_truth")


def _mat_of_zeros(path, rows: int) -> None:
    """A MATLAB 5 .mat whose one variable, ``face_bbx_list``, is ``rows`` x 4 zeros, compressed: a few MB on disk that
    a reader decompressing it whole would hold as ``rows * 32`` bytes."""
    import struct
    import zlib

    def element(kind: int, data: bytes) -> bytes:
        return struct.pack("<II", kind, len(data)) + data + b"\0" * (-len(data) % 8)

    payload = rows * 4 * 8
    head = (element(6, struct.pack("<II", 6, 0)) + element(5, struct.pack("<ii", rows, 4)) + element(1, b"face_bbx_list")
            + struct.pack("<II", 9, payload))  # fmt: skip
    matrix_size = len(head) + payload
    z = zlib.compressobj(1)
    body = [z.compress(struct.pack("<II", 14, matrix_size) + head)]
    zeros = bytes(1 << 24)
    for _ in range(payload >> 24):
        body.append(z.compress(zeros))
    body.append(z.compress(bytes(payload & ((1 << 24) - 1))))
    body.append(z.flush())
    stream = b"".join(body)
    header = b"MATLAB 5.0 MAT-file, made by a test".ljust(116, b" ") + bytes(8) + struct.pack("<H", 0x0100) + b"IM"
    path.write_bytes(header + struct.pack("<II", 15, len(stream)) + stream)


def test_a_mat_file_that_expands_beyond_the_budget_is_refused_before_it_is_read(tmp_path):
    """A few MB on disk, 1 GiB of rows once decompressed: refused in one line while what the reader allocates stays
    small (Python's and NumPy's allocations, traced)."""
    import tracemalloc

    make_photos(tmp_path / "d", count=2, seed=4)
    mats = tmp_path / "d/eval_tools/ground_truth"
    _mat_of_zeros(mats / "wider_face_val.mat", rows=1 << 25)
    assert (mats / "wider_face_val.mat").stat().st_size < 8 << 20
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="wider_face_val.mat: expands to more than") as err:
            read_truth(mats)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"the reader allocated {peak >> 20} MiB"
    assert "\n" not in str(err.value)


def test_upstream_scales_and_the_pyramid():
    assert upstream.scales(480, 640, "upstream") == [2.5]  # shorter side to 1200, longer 1600
    assert upstream.scales(300, 1000, "upstream") == [1.6]  # the longer side would pass 1600
    pyramid = upstream.scales(600, 800, "upstream-pyramid")
    assert pyramid == pytest.approx([500 / 800 * 800 / 600 * 1.0, 800 / 600, 1200 / 800 * 800 / 600, 1600 / 800 * 800 / 600])
    assert upstream.scales(400, 1000, "upstream-pyramid")[1] == pytest.approx(1200 / 1000)  # longer side at most 1200


class _Runner:
    """Outputs of a fixed score at one anchor per stride, remembering each input's shape."""

    def __init__(self):
        self.shapes = []

    def infer(self, tensor):
        self.shapes.append(tensor.shape)
        h, w = tensor.shape[2:]
        out = {}
        for s in (32, 16, 8):
            fh, fw = -(-h // s), -(-w // s)
            cls = np.zeros((1, 4, fh, fw), np.float32)
            cls[0, 2, 1, 1] = {32: 0.9, 16: 0.8, 8: 0.7}[s]
            out[f"rpn_cls_prob_reshape_stride{s}"] = cls
            out[f"rpn_bbox_pred_stride{s}"] = np.zeros((1, 8, fh, fw), np.float32)
        return out


def test_the_pyramid_runs_four_scales_and_skips_stride_32_at_the_largest():
    from sshconv.detection.decode import card_heads

    bgr = np.zeros((300, 400, 3), np.uint8)
    runner = _Runner()
    one = upstream.run_photo(runner, bgr, card_heads(), "upstream")
    assert runner.shapes == [(1, 3, 1200, 1600)] and sorted(one[:, 4].tolist()) == pytest.approx([0.7, 0.8, 0.9])
    runner = _Runner()
    dets = upstream.run_photo(runner, bgr, card_heads(), "upstream-pyramid")
    assert [s[2:] for s in runner.shapes] == [(500, 667), (800, 1067), (1200, 1600), (1600, 2133)]
    # stride 32's 0.9 box comes from three scales, never the largest; boxes are in the photo's pixels
    assert (dets[:, 4] > 0.85).sum() >= 1 and dets[:, [0, 2]].max() < 400 and dets[:, [1, 3]].max() < 300
