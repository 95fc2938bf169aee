"""A submission folder is a place to add to, not to own: only what sshconv wrote there is replaced, photo names from
a ground truth never lead a write outside an engine's folder or onto another photo's file."""

from __future__ import annotations

import json

import pytest

from sshconv.dataset.photos import make_photos
from sshconv.errors import InputError, UsageError
from sshconv.evaluation.submission import INDEX_NAME, check_submissions, write_submissions

from ..conftest import assert_one_line_error, run_cli, tiny_ir

pytestmark = pytest.mark.quick


def _rows(label: str, *paths: str):
    return ((p, {label: "1 2 3 4 0.9"}) for p in paths)


def _tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_sshconv_did_not_write_is_never_replaced(tmp_path):
    root = tmp_path / "sub"
    (root / "onnx").mkdir(parents=True)
    (root / "onnx" / "ssh-mxnet.onnx").write_bytes(b"the user's model")  # a conversion folder given as submission folder
    (root / "notes.txt").write_text("mine")
    before = _tree(root)
    with pytest.raises(UsageError, match=r"onnx is already there and sshconv did not write it; .*submission.dir"):
        write_submissions(root, ["onnx"], _rows("onnx", "e/a.jpg"))
    assert _tree(root) == before and sorted(p.name for p in root.iterdir()) == ["notes.txt", "onnx"]
    # Other engines' folders are added beside what was there, which stays as it was.
    write_submissions(root, ["ir/mo/FP32"], _rows("ir/mo/FP32", "e/a.jpg"))
    assert (root / "onnx" / "ssh-mxnet.onnx").read_bytes() == b"the user's model" and (root / "notes.txt").read_text() == "mine"


def test_what_an_earlier_run_wrote_is_replaced_even_after_a_run_of_other_engines(tmp_path):
    root = tmp_path / "sub"
    write_submissions(root, ["a", "b"], ((p, {"a": "1 2 3 4 0.9", "b": "1 2 3 4 0.8"}) for p in ["e/x.jpg"]))
    write_submissions(root, ["a"], _rows("a", "e/y.jpg"))  # b's folder is still sshconv's
    write_submissions(root, ["b"], _rows("b", "e/z.jpg"))
    assert sorted(p.name for p in (root / "b" / "e").iterdir()) == ["z.txt"]
    assert json.loads((root / INDEX_NAME).read_text()) == {"a": "a", "b": "b"}


@pytest.mark.parametrize("index", ['{"mine": "../elsewhere"}', "not json", '["a"]'])
def test_an_index_sshconv_did_not_write_is_refused(tmp_path, index):
    root = tmp_path / "sub"
    root.mkdir()
    (root / INDEX_NAME).write_text(index)
    with pytest.raises(UsageError, match=f"its {INDEX_NAME} was not written by sshconv"):
        write_submissions(root, ["a"], _rows("a", "e/x.jpg"))
    assert [p.name for p in root.iterdir()] == [INDEX_NAME] and (root / INDEX_NAME).read_text() == index


@pytest.mark.parametrize(
    "paths, message",
    [
        (["e/../x.jpg"], "would not be <event>/<photo>.txt inside"),
        (["e/./x.jpg"], "would not be <event>/<photo>.txt inside"),
        (["e/.jpg"], "would not be <event>/<photo>.txt inside"),
        (["Event/Photo.jpg", "event/photo.jpg"], "differ only in case"),
        (["e/x.jpg", "e/x.jpg"], "one submission file for both"),
    ],
)
def test_photo_names_that_leave_the_folder_or_share_a_file_are_refused(tmp_path, paths, message):
    with pytest.raises(InputError, match=message):
        check_submissions(tmp_path / "sub", ["a"], paths)
    with pytest.raises(InputError, match=message):
        write_submissions(tmp_path / "sub", ["a"], _rows("a", *paths))
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], "nothing written, inside the folder or beside it"


def test_eval_refuses_before_any_photo_runs(tmp_path):
    """The conversion folder given as ``--submission-dir``: the IR engine's folder would be its ``ir/``."""
    make_photos(tmp_path / "photos", count=1, seed=3)
    converted = tmp_path / "converted"
    xml = tiny_ir(converted / "ir" / "mo" / "FP32")
    before = _tree(converted)
    res = run_cli("eval", "--dataset", tmp_path / "photos", "--ir", xml, "--work-dir", tmp_path / "w",
                  "--submission-dir", converted)  # fmt: skip
    assert_one_line_error(res, 2, f"{converted / 'ir'} is already there and sshconv did not write it")
    assert _tree(converted) == before and not (tmp_path / "w").exists()
