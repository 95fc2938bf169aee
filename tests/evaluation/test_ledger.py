"""The ledger on its own (no model, no framework: both stacks run these): what goes in comes out, the mAP from its rows
equals the in-memory one, one folder a run, and a changed identity is named and refused, never mixed."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from sshconv.errors import IntegrityError
from sshconv.evaluation import omz_map
from sshconv.evaluation.ledger import LEDGER_NAME, Ledger, run_folder

pytestmark = pytest.mark.quick

IDENTITY = {"dataset": {"ground_truth": "gt.txt", "sha256": "a" * 64}, "engines": {"mxnet": {}, "ir": {"x.xml": "b" * 64}},
            "settings": {"nms_threshold": 0.3}}  # fmt: skip


def _photo(rng, idx: int):
    """A photo's faces and both engines' detections, packed as a worker packs them."""
    faces = [[int(x), int(y), int(w), int(w * 1.2)] for x, y, w in rng.integers([0, 0, 40], [500, 500, 300], (3, 3))]
    found, matches = {}, {}
    for label in IDENTITY["engines"]:
        dets = np.array([[x + rng.normal(0, 4), y, x + w, y + h, rng.random()] for x, y, w, h in faces]
                        + [[10, 10, 90, 90, rng.random()]])  # fmt: skip
        m = omz_map.match_photo(dets, omz_map.annotation(faces))
        matches[label] = m
        found[label] = {"seconds": 0.1, "scores": m.scores.astype(np.float64).tobytes(), "rows": len(m.scores),
                        "positive": np.packbits(m.positive).tobytes(), "boxes": np.round(dets, 2).tolist(),
                        **({"parity": [3, 0, 1]} if label != "mxnet" else {})}  # fmt: skip
    result = {"index": idx, "path": f"e/{idx}.jpg", "faces": matches["mxnet"].faces, "seconds": 0.3, "engines": found}
    return result, matches


def test_what_goes_in_comes_out_and_the_map_equals_the_in_memory_one(tmp_path):
    rng = np.random.default_rng(4)
    ledger = Ledger(run_folder(tmp_path, IDENTITY))
    assert ledger.open(IDENTITY) == 0
    held = {label: [] for label in IDENTITY["engines"]}
    for idx in range(12):
        result, matches = _photo(rng, idx)
        ledger.add(result, f"{idx:064x}")
        for label, m in matches.items():
            held[label].append(m)
    for label, ms in held.items():
        assert ledger.average_precision(label).ap == pytest.approx(omz_map.average_precision_of(ms).ap, abs=1e-12)
    assert ledger.totals("ir")["extra"] == 12 and ledger.totals("ir")["photos"] == 12
    assert ledger.done()[3] == f"{3:064x}"
    ledger.close()
    again = Ledger(run_folder(tmp_path, IDENTITY))
    assert again.open(IDENTITY) == 12, "the same run continues"
    again.close()


def test_one_folder_a_run_and_resume_names_what_changed(tmp_path):
    first = run_folder(tmp_path, IDENTITY)
    ledger = Ledger(first)
    ledger.open(IDENTITY)
    ledger.add(_photo(np.random.default_rng(1), 0)[0], "0" * 64)
    ledger.close()
    other = {**IDENTITY, "engines": {"mxnet": {}, "ir": {"x.xml": "c" * 64}}}
    assert run_folder(tmp_path, other) != first and run_folder(tmp_path, other).parent == tmp_path
    assert run_folder(tmp_path, IDENTITY) == first
    # With resume, the earlier run is meant: opening it with the new identity says what changed.
    meant = run_folder(tmp_path, other, resume=True)
    assert meant == first
    with pytest.raises(IntegrityError, match="the models changed"):
        Ledger(meant).open(other)


def test_a_ledger_without_a_photo_is_started_again_and_damage_is_one_line(tmp_path):
    folder = run_folder(tmp_path, IDENTITY)
    ledger = Ledger(folder)
    ledger.open(IDENTITY)
    ledger.close()
    assert Ledger(folder).open(IDENTITY) == 0
    (folder / LEDGER_NAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(Exception) as info:
        Ledger(folder).open(IDENTITY)
    assert "ledger" in str(info.value) and getattr(info.value, "exit_code", 0) in (2, 4)


def test_a_photo_is_one_transaction(tmp_path):
    """A photo whose rows fail half-way leaves nothing of it: SQLite undoes the transaction."""
    ledger = Ledger(run_folder(tmp_path, IDENTITY))
    ledger.open(IDENTITY)
    result, _ = _photo(np.random.default_rng(2), 0)
    result["engines"]["nobody"] = result["engines"]["ir"]  # an engine the ledger does not know: fails after some rows
    with pytest.raises(KeyError):
        ledger.add(result, "0" * 64)
    assert ledger.photo_count() == 0
    assert ledger.conn.execute("SELECT count(*) FROM rows").fetchone()[0] == 0
    ledger.close()
    with sqlite3.connect(ledger.path) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_a_second_process_on_the_same_run_is_refused_at_once_and_the_first_loses_nothing(tmp_path):
    """Two terminals (or a CI retry) start the same evaluation: the second is one line, the first's ledger untouched."""
    from sshconv.errors import LockTimeout

    folder = run_folder(tmp_path, IDENTITY)
    first = Ledger(folder)
    first.open(IDENTITY)  # no photo yet: the moment a second run used to delete the ledger as "empty"
    second = Ledger(folder)
    with pytest.raises(LockTimeout, match="another sshconv process .*pid .* is using it.*let it finish") as info:
        second.open(IDENTITY)
    assert info.value.exit_code == 2
    second.close()
    first.add(_photo(np.random.default_rng(7), 0)[0], "0" * 64)
    assert first.photo_count() == 1
    first.close()
    again = Ledger(folder)
    assert again.open(IDENTITY) == 1, "once the first has finished, the same run goes on from its ledger"
    again.close()


def test_submission_lines_come_back_as_written_and_a_damaged_row_is_named(tmp_path):
    import zlib

    ledger = Ledger(run_folder(tmp_path, IDENTITY))
    ledger.open(IDENTITY)
    rng = np.random.default_rng(2)
    for idx, text in enumerate(("1 2 30 40 0.9\n5 6 7 8 0.1", "")):
        result, _ = _photo(rng, idx)
        for label in IDENTITY["engines"]:
            result["engines"][label]["wider"] = zlib.compress(text.encode())
        ledger.add(result, f"{idx:064x}")
    assert list(ledger.wider_lines("ir")) == [("e/0.jpg", "1 2 30 40 0.9\n5 6 7 8 0.1"), ("e/1.jpg", "")]
    ledger.conn.execute("UPDATE wider SET lines = ? WHERE idx = 1", (b"not zlib",))
    with pytest.raises(IntegrityError, match="e/1.jpg's detections are damaged"):
        list(ledger.wider_lines("ir"))
    ledger.close()
