"""An interrupted evaluation continues where it stopped and counts every photo once (both stacks, the quick tier).

A small real IR with the card's outputs stands in for the detector: what is proven here is the run's bookkeeping
(the ledger, the resume, the numbers from its rows), not the detector; ``test_eval.py`` repeats it with the
full-size models, killed with ``kill -9``.
"""

from __future__ import annotations

import json

import pytest

from sshconv.dataset.photos import make_photos
from sshconv.evaluation import evaluate
from sshconv.model import load_model_spec
from sshconv.model.spec import default_outputs

from ..conftest import run_cli, tiny_ir

pytestmark = pytest.mark.quick
PHOTOS = 5


class Stop(KeyboardInterrupt):
    """Ctrl-C, pressed once the ledger holds a photo."""


def _numbers(report: dict) -> dict:
    return {label: {k: v for k, v in r.items() if k != "seconds_per_photo"} for label, r in report["results"].items()}


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    xml = tiny_ir(folder / "model", names=[o.name for o in default_outputs(640, 640)])
    make_photos(folder / "photos", count=PHOTOS, seed=8)
    whole = run_cli("eval", "--dataset", folder / "photos", "--ir", xml, "--metric", "both", "--work-dir", folder / "w",
                    "--json")  # fmt: skip
    assert whole.code == 0, whole.err
    return folder, xml, json.loads(whole.out)


def test_an_interrupted_run_continues_and_counts_each_photo_once(case, tmp_path):
    folder, xml, whole = case
    assert whole["results"]["ir"]["detections"] > 0 and whole["results"]["ir"]["photos"] == PHOTOS

    def stop_after_the_first(event):  # the first progress event is never held back (the later ones are, by time)
        if event.get("stage") == "eval" and event.get("event") == "progress" and event.get("done", 0) >= 1:
            raise Stop

    with pytest.raises(Stop):
        evaluate(
            load_model_spec(), folder / "photos", irs=[xml], metric="both", work_dir=tmp_path / "w", on_event=stop_after_the_first
        )
    again = run_cli("eval", "--dataset", folder / "photos", "--ir", xml, "--metric", "both", "--work-dir", tmp_path / "w",
                    "--json")  # fmt: skip
    assert again.code == 0, again.err
    report = json.loads(again.out)
    assert report["resumed_photos"] == 1 and report["timing"]["photos"] == PHOTOS
    assert _numbers(report) == _numbers(whole)
    # Run once more: everything is held, nothing runs again, nothing is counted twice.
    last = json.loads(run_cli("eval", "--dataset", folder / "photos", "--ir", xml, "--metric", "both", "--work-dir",
                              tmp_path / "w", "--json").out)  # fmt: skip
    assert last["resumed_photos"] == PHOTOS and _numbers(last) == _numbers(whole)
