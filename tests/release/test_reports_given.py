"""Reports handed to ``sshconv bundle`` are input: a hand-edited one is one line naming the file and the field, exit 2,
before minutes of verification (quick tier, both stacks: the conversion folder is conftest.py's hand-made bundle's)."""

from __future__ import annotations

import json

import pytest

from ..conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.quick

LABEL = "ir/mo/FP32"


def _eval(folder, **result):
    from sshconv.fsutil import sha256_file

    xml = "ir/mo/FP32/ssh-mxnet.xml"
    return {"results": {LABEL: {"map": 84.8, "wider": {"easy": 0.9, "medium": 0.8, "hard": 0.5}, **result}},
            "engines": {LABEL: {"sha256": {xml: sha256_file(folder / "artifacts" / xml)}}},
            "metric": {"protocol": "omz"}, "dataset": {"photos": 3}}  # fmt: skip


def _bench(folder, **case):
    from sshconv.fsutil import sha256_file

    xml = "ir/mo/FP32/ssh-mxnet.xml"
    return {"cases": [{"name": LABEL, "input_shape": [1, 3, 640, 640], "fps": 5.0, "execution": "f32",
                       "files": {xml: sha256_file(folder / "artifacts" / xml)}, **case}], "cpu": "x", "mode": "latency"}  # fmt: skip


CASES = {
    "mAP a string": ("eval", lambda b: _eval(b, map="84.8 %"), f"results.{LABEL}.map: expected a number, found a string"),
    "WIDER AP a list": ("eval", lambda b: _eval(b, wider={"easy": [0.9]}), f"results.{LABEL}.wider.easy: expected a number"),
    "engine not an object": ("eval", lambda b: {**_eval(b), "engines": {LABEL: "x"}}, f"engines.{LABEL}: expected an object"),
    "photos a string": ("eval", lambda b: {**_eval(b), "dataset": {"photos": "3"}}, "dataset.photos: expected a number"),
    "frames/s a string": ("bench", lambda b: _bench(b, fps="fast"), "cases.0.fps: expected a number, found a string"),
    "input shape missing": ("bench", lambda b: {"cases": [{k: v for k, v in _bench(b)["cases"][0].items() if k != "input_shape"}]},
                            "cases.0.input_shape: expected a list, missing"),
    "case name a list": ("bench", lambda b: _bench(b, name=["x"]), "cases.0.name: expected a string, found a list"),
    "nested too deeply": ("bench", None, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hand_edited_report_is_refused_naming_the_field(bundle, tmp_path, case):
    kind, make, said = CASES[case]
    report = tmp_path / f"{kind}.json"
    report.write_text(json.dumps(make(bundle)) if make else "[" * 100_000 + "]" * 100_000)
    out = tmp_path / "out"
    res = run_cli("bundle", "--artifacts", bundle / "artifacts", "--golden", bundle / "golden" / "g.npz", "--out", out,
                  f"--{kind}", report)  # fmt: skip
    assert_one_line_error(res, 2, str(report), said)
    assert not out.exists()


def test_the_reports_as_written_pass_these_checks(bundle):
    """The same checks on the reports as sshconv writes them: the cases above differ from these in one field each."""
    from sshconv.conversion.manifest import read_manifest
    from sshconv.release.bundle import _check_report
    from sshconv.release.layout import BENCH_REPORT, EVAL_REPORT

    manifest = read_manifest(bundle / "artifacts")
    _check_report(bundle / "e.json", _eval(bundle), manifest, EVAL_REPORT)
    _check_report(bundle / "b.json", _bench(bundle), manifest, BENCH_REPORT)


def test_a_golden_file_that_is_missing_or_not_one_is_refused_before_anything_is_written(bundle, tmp_path):
    out = tmp_path / "out"
    res = run_cli("bundle", "--artifacts", bundle / "artifacts", "--golden", tmp_path / "none.npz", "--out", out)
    assert_one_line_error(res, 2, "none.npz: no such file")
    (tmp_path / "text.npz").write_text("not a golden file")
    res = run_cli("bundle", "--artifacts", bundle / "artifacts", "--golden", tmp_path / "text.npz", "--out", out)
    assert_one_line_error(res, 2, "text.npz: not a golden npz")
    assert not out.exists()
