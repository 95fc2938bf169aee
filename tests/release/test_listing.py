"""A bundle's listing on its own (no model, no signature: both stacks, the quick tier): every change to a listed folder
is named. The same changes to a real signed bundle, through ``verify --bundle``, are in test_bundle.py."""

from __future__ import annotations

import json

import pytest

from sshconv.errors import IntegrityError
from sshconv.release.layout import LISTING, check_listing, write_listing

pytestmark = pytest.mark.quick


@pytest.fixture
def listed(tmp_path):
    folder = tmp_path / "bundle"
    (folder / "models" / "m" / "1").mkdir(parents=True)
    (folder / "models" / "m" / "1" / "model.bin").write_bytes(bytes(range(256)) * 64)
    (folder / "MODEL_CARD.md").write_text("| MParams | 19.7684 |\n")
    (folder / "reports").mkdir()
    (folder / "reports" / "verify.json").write_text("{}\n")
    write_listing(folder, {"conversion": {"sha256": "a" * 64}})
    return folder


def test_an_untouched_folder_passes_and_lists_every_file(listed):
    doc = check_listing(listed)
    assert sorted(doc["files"]) == ["MODEL_CARD.md", "models/m/1/model.bin", "reports/verify.json"]


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "change, named",
    [
        ("flipped byte", "models/m/1/model.bin"),
        ("added", "models/m/1/extra.txt"),
        ("added at the top", "notes.txt"),
        ("removed", "reports/verify.json"),
        ("same size, other bytes", "MODEL_CARD.md"),
        ("link", "reports/eval.json"),
        ("listed path outside", "../outside"),
        ("listed path with a NUL", "reports/v\x00.json"),
        ("listed path not plain", "reports/./verify.json"),
        ("listing nested too deeply", "BUNDLE.json"),
    ],
)
def test_every_change_is_an_integrity_failure_naming_the_file(listed, change, named):
    if change == "flipped byte":
        _flip(listed / named)
    elif change.startswith("added"):
        (listed / named).write_text("hello\n")
    elif change == "removed":
        (listed / named).unlink()
    elif change == "same size, other bytes":
        (listed / named).write_text("| MParams | 9.76840 |\n")
    elif change == "link":
        (listed / named).symlink_to("/etc/hostname")
    elif change == "listing nested too deeply":  # json raises RecursionError: still one line, exit 4
        (listed / LISTING).write_text("[" * 200_000 + "]" * 200_000)
    else:
        doc = json.loads((listed / LISTING).read_text())
        doc["files"][named] = {"size": 1, "sha256": "0" * 64}
        (listed / LISTING).write_text(json.dumps(doc))
    with pytest.raises(IntegrityError) as err:
        check_listing(listed)
    assert repr(named)[1:-1] in str(err.value) and "\n" not in str(err.value)
