"""What eval reads of a dataset, before any model runs: only regular files, never waited on."""

from __future__ import annotations

import os
import threading

import pytest

from sshconv.dataset.photos import make_photos
from sshconv.errors import InputError
from sshconv.evaluation.core import _tasks, find_dataset

pytestmark = pytest.mark.quick


def test_a_photo_that_is_a_named_pipe_is_refused_not_waited_on(tmp_path):
    make_photos(tmp_path, count=2, seed=3)
    ds = find_dataset(tmp_path)
    first = next(iter(ds.photos()))
    photo = ds.images / first.path
    photo.unlink()
    os.mkfifo(photo)
    timer = threading.Timer(30, lambda: open(photo, "wb").close())  # unblocks a reader that waits, so the test ends
    timer.start()
    try:
        with pytest.raises(InputError, match="named pipe .* not a regular file"):
            next(_tasks(ds, {}, {}))
    finally:
        timer.cancel()


def test_a_photo_that_is_a_folder_is_refused(tmp_path):
    make_photos(tmp_path, count=1, seed=3)
    ds = find_dataset(tmp_path)
    photo = ds.images / next(iter(ds.photos())).path
    photo.unlink()
    photo.mkdir()
    with pytest.raises(InputError, match="is a folder, not a regular file"):
        next(_tasks(ds, {}, {}))


def test_mat_files_of_other_photos_are_refused_before_any_photo_runs(tmp_path):
    """Another photo set's .mat files (or one that lists a photo more or less): one line naming the file and a
    photo, exit 2, before the models run; not Easy, Medium and Hard of 0."""
    import shutil

    from sshconv.dataset.wider import gt_text, read_gt
    from sshconv.dataset.wider_mat import find_mats
    from sshconv.model.network import output_names

    from ..conftest import assert_one_line_error, run_cli, tiny_ir

    ours, other = tmp_path / "ours", tmp_path / "other"
    make_photos(ours, count=2, seed=3)
    make_photos(other, count=2, seed=4)
    mats, theirs = find_mats(ours), find_mats(other)
    shutil.rmtree(mats)
    shutil.copytree(theirs, mats)
    xml = tiny_ir(tmp_path / "ir", names=output_names())  # the card's outputs, cheap: the last run below runs it
    res = run_cli("eval", "--dataset", ours, "--ir", xml, "--metric", "wider", "--work-dir", tmp_path / "w")
    assert_one_line_error(res, 2, "wider_face_val.mat: wider_face_val.mat lists 2 photo(s) that", "the first")
    assert not (tmp_path / "w").exists()
    # The dataset's own .mat files, its ground truth cut to one photo: the .mat files list one it does not.
    shutil.rmtree(mats)
    make_photos(tmp_path / "again", count=2, seed=3)
    shutil.copytree(find_mats(tmp_path / "again"), mats)
    gt = find_dataset(ours).ground_truth
    photos = list(read_gt(gt))
    gt.write_text(gt_text(photos[:1]))
    res = run_cli("eval", "--dataset", ours, "--ir", xml, "--metric", "wider", "--work-dir", tmp_path / "w")
    event, name = photos[1].path.split("/")
    assert_one_line_error(res, 2, "wider_face_val.mat lists 1 photo(s) that", f"({event}/{name[:-4]} the first)")
    # As written, the two agree and the run goes on.
    gt.write_text(gt_text(photos))
    res = run_cli("eval", "--dataset", ours, "--ir", xml, "--metric", "wider", "--work-dir", tmp_path / "w")
    assert res.code == 0, res.err
