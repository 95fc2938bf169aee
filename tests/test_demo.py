"""`sshconv demo` end to end, offline: download --from-file, convert both routes, quantize, verify + HTML, bench; then reuse.

One demo from an empty folder is made once for the module (its cost is that of the fixture: every step runs for real
but the benchmark and the evaluation); a second run in the same folder adds them (and their reports to the bundle), a
third reuses everything, and on a copy its verification is made to fail.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from sshconv.demo import STEPS, _conversion_is_valid
from sshconv.model.network import output_names
from sshconv.release import check_bundle_files

from .conftest import conversion_stack, needs_conversion_stack, run_cli

#: The demo's flags in these tests: verified on the patterns and one generated photo (7 models x 4 inputs instead of
#: 7 x 11: detection parity on the default 8 photos is tests/conversion/test_quantize.py's), the INT8 IR calibrated
#: on 4 photos instead of 16 (about 2 s a photo; quantizing on the default count is the faces fixture's, tests/conftest.py).
FEW = ("--samples", "0", "--photos", "1", "--calibration-count", "4")


@pytest.fixture(scope="module")
def first_demo(tmp_path_factory):
    """The README's main command, from nothing, without the benchmark and the evaluation (the second demo runs them,
    each under three minutes): ``(work folder, result)``."""
    if not conversion_stack():
        pytest.skip("the demo runs on the conversion stack")
    work = tmp_path_factory.mktemp("demo") / "demo"
    res = run_cli("demo", "--workdir", work, *FEW, "--bench-seconds", "0", "--eval-photos", "0", "--progress", "json")
    return work, res


@pytest.fixture(scope="module")
def second_demo(first_demo):
    """The same folder again, now with the benchmark and the evaluation: ``(work folder, result)``."""
    work, first = first_demo
    assert first.code == 0, first.err
    return work, run_cli("demo", "--workdir", work, *FEW, "--bench-seconds", "0.01", "--eval-photos", "2", "--json")


@pytest.mark.slow
@needs_conversion_stack
def test_demo_from_an_empty_folder_runs_every_step(first_demo):
    """Every step runs for real (synth, import, convert, quantize, faces, verify, bundle; bench and eval when asked)."""
    work, res = first_demo
    assert res.code == 0, res.err
    # The demo's own events, one per step, and its steps' events passed on, each with its own stage.
    events = [json.loads(line) for line in res.err.splitlines()]
    assert [e["item"] for e in events if e["stage"] == "demo" and e["event"] == "progress"] == list(STEPS)
    assert {e["stage"] for e in events} == {"demo", "synth", "download", "convert", "quantize", "verify", "bundle"}
    runs = [e for e in events if e["stage"] == "verify" and e["event"] == "progress"]
    totals = [e["total"] for e in runs if e["done"] == e["total"]]
    assert totals[0] == 7 * 4, "MXNet and 6 models, each on 3 patterns and the one photo asked for"
    rows = {line.split()[0]: line.split()[1] for line in res.out.splitlines() if line.split()[:1] and line.split()[0] in STEPS}
    assert rows == {s: "skipped" if s in ("bench", "eval") else "done" for s in STEPS}, res.out
    assert "verification: PASS" in res.out
    # The INT8 IR: made from the Model Optimizer FP32 IR, verified against MXNet by its faces, shown.
    assert "INT8 detection parity: ir/mo/INT8: PASS, recall" in res.out

    # Offline import through the cache into the checkpoint folder.
    assert any((work / "cache").rglob("*")) and (work / "checkpoint" / "sshb-0000.params").is_file()
    manifest = json.loads((work / "converted" / "manifest.json").read_text())
    paths = {a["path"] for a in manifest["artifacts"]}
    for route in ("mo", "onnx"):
        for prec in ("FP32", "FP16"):
            assert f"ir/{route}/{prec}/ssh-mxnet.xml" in paths
            assert str(work / "converted" / "ir" / route / prec / "ssh-mxnet.xml") in res.out
    assert (work / "converted" / "onnx" / "ssh-mxnet.onnx").is_file()
    # Every artifact verified (4 IRs and the ONNX file), report written and named.
    verify_doc = json.loads((work / "verify.json").read_text())
    assert verify_doc["passed"] is True
    assert {c["label"] for c in verify_doc["checks"]} >= {
        "ir/mo/FP32",
        "ir/mo/FP16",
        "ir/onnx/FP32",
        "ir/onnx/FP16",
        "ir/mo/INT8",
    }
    int8 = next(c for c in verify_doc["checks"] if c["label"] == "ir/mo/INT8")
    assert int8["reference"] == "mxnet" and int8["detection_parity"]["recall"] >= 0.95
    assert manifest["quantization"]["ir/mo/INT8"]["calibration"]["count"] == 4
    page = (work / "report.html").read_text()
    assert f"HTML report: {work / 'report.html'}" in res.out
    assert all(name in page for name in output_names()) and page.count("data:image/png;base64,") == 6

    # The release: every model and its faces twin, signed with the demo's key, checked on arrival; the command to
    # check it again is printed. No report yet: nothing was measured.
    listing = json.loads((work / "bundle" / "BUNDLE.json").read_text())["files"]
    assert {"golden/golden.npz", "models/ssh-mxnet-faces/1/model.xml"} <= set(listing)
    assert not {"reports/eval.json", "reports/bench.json"} & set(listing)
    assert {"artifacts/ir/mo/INT8/ssh-mxnet.xml", "artifacts/ir/mo/FP32/ssh-mxnet-faces.xml"} <= set(listing)
    assert (work / "bundle" / "model.sig").is_file()
    card = (work / "bundle" / "MODEL_CARD.md").read_text()
    assert "synthetic checkpoint" in card and "| ir/mo/INT8 |" in card
    assert f"sshconv verify --bundle {work / 'bundle'} --public-key {work / 'signing' / 'key.pub'}" in res.out
    assert oct((work / "signing" / "key.pem").stat().st_mode & 0o777) == "0o600"
    bundle_step = next(line for line in res.out.splitlines() if line.startswith("bundle "))
    assert "signed (the key key.pub: good), files and card checked on arrival" in bundle_step, bundle_step
    assert check_bundle_files(work / "bundle", work / "signing" / "key.pub").signed_by == "the key key.pub"
    # The bundle carries the verify step's own report: its models compared with MXNet itself, not run again.
    report = json.loads((work / "bundle" / "reports" / "verify.json").read_text())
    assert report["passed"] is True and report["reference"] == "mxnet" and report["golden_written"] == "golden/golden.npz"
    assert {c["label"] for c in report["checks"]} == {c["label"] for c in verify_doc["checks"]}
    # The receiver's whole check (every model against the bundle's golden file) is tests/release/test_bundle.py's.


@pytest.mark.slow
@needs_conversion_stack
def test_a_second_demo_benchmarks_evaluates_and_bundles_their_reports(second_demo):
    """What the first demo skipped runs now; what it made is reused; the bundle is made again to carry the reports."""
    work, res = second_demo
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("synth", "reused"), ("download", "reused"), ("convert", "reused"), ("quantize", "reused"), ("faces", "reused"),
        ("verify", "reused"), ("bench", "done"), ("eval", "done"), ("bundle", "done"),
    ]  # fmt: skip
    # The short benchmark: MXNet and the Model Optimizer IRs, with speed-ups, each against its ceiling.
    bench = json.loads((work / "bench.json").read_text())
    assert [c["name"] for c in bench["cases"]] == ["mxnet", "ir/mo/FP16", "ir/mo/FP32", "ir/mo/FP32 bf16", "ir/mo/INT8"]
    assert all(c["speedup_vs_mxnet"] > 0 for c in bench["cases"]) and set(bench["ceilings"]) >= {"f32", "int8"}
    # The card's metric for MXNet and every artifact.
    assert set(doc["eval"]) == {"mxnet", "ir/mo/FP32", "ir/mo/FP16", "ir/onnx/FP32", "ir/onnx/FP16", "ir/mo/INT8", "onnx"}
    assert all(0 <= r["map"] <= 100 for r in doc["eval"].values()) and (work / "eval.html").is_file()
    listing = json.loads((work / "bundle" / "BUNDLE.json").read_text())["files"]
    assert {"reports/eval.json", "reports/bench.json", "reports/verify.json"} <= set(listing)
    assert "| ir/mo/INT8 | 1x3x640x640 | f32 |" in (work / "bundle" / "MODEL_CARD.md").read_text()  # its speed
    assert check_bundle_files(work / "bundle", work / "signing" / "key.pub").signed_by == "the key key.pub"


@pytest.mark.slow
@needs_conversion_stack
def test_a_third_demo_reuses_everything(second_demo):
    """Everything still valid is reused, nothing is recomputed (a skipped benchmark keeps the bundle's last report)."""
    work, second = second_demo
    assert second.code == 0, second.err
    again = run_cli("demo", "--workdir", work, *FEW, "--bench-seconds", "0", "--eval-photos", "2", "--json")
    assert again.code == 0, again.err
    doc = json.loads(again.out)
    assert [(s["name"], s["status"]) for s in doc["steps"]] == [
        ("synth", "reused"), ("download", "reused"), ("convert", "reused"), ("quantize", "reused"), ("faces", "reused"),
        ("verify", "reused"), ("bench", "skipped"), ("eval", "reused"), ("bundle", "reused"),
    ]  # fmt: skip
    assert sum(s["seconds"] for s in doc["steps"]) < 30


@pytest.mark.slow
@needs_conversion_stack
def test_a_failing_verification_is_exit_1_and_leaves_no_stamp(first_demo, tmp_path):
    """model.yml's tolerances set to zero, and the stamp of the earlier pass removed so that it verifies again."""
    source, first = first_demo
    assert first.code == 0, first.err
    work = tmp_path / "demo"  # a copy (its files linked: sshconv replaces a file, it never writes into one)
    shutil.copytree(source, work, copy_function=os.link)
    model_yml = work / "synthetic" / "model.yml"
    doc = yaml.safe_load(model_yml.read_text())
    doc["verification"]["tolerances"] = {
        p: {f: {"atol": 0.0, "rtol": 0.0} for f in ("cls_prob", "bbox_pred")} for p in ("FP32", "FP16")
    }
    model_yml.unlink()
    model_yml.write_text(yaml.safe_dump(doc))
    (work / "verified.json").unlink()
    failed = run_cli("demo", "--workdir", work, *FEW, "--bench-seconds", "0", "--eval-photos", "0", "--fail-fast")
    assert failed.code == 1, failed.out + failed.err
    assert "verification: FAIL" in failed.out and not (work / "verified.json").exists()
    # --fail-fast: the first model that failed ended the verification (the others' runs are tests/verification's).
    report = json.loads((work / "verify.json").read_text())
    assert report["passed"] is False and [c["label"] for c in report["checks"]] == [report["stopped_after"]]
    assert "fail fast: stopped after" in failed.out

    # A changed artifact invalidates the conversion (the next run converts again).
    xml = work / "converted" / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    text = xml.read_text()
    xml.unlink()
    xml.write_text(text + "\n")
    assert not _conversion_is_valid(work / "converted", work / "checkpoint")


def test_demo_refuses_a_count_below_its_least_before_anything_runs(tmp_path):
    for flag, value in (("--calibration-count", "0"), ("--photos", "-1"), ("--bench-seconds", "-1")):
        res = run_cli("demo", "--workdir", tmp_path / "w", flag, value)
        assert res.code == 2 and f"{flag} must be >= " in res.err and len(res.err.strip().splitlines()) == 1, res.err
    assert not (tmp_path / "w").exists()


def test_demo_rejects_an_unusable_workdir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli("demo", "--workdir", blocker)
    assert res.code == 2 and str(blocker) in res.err and "Traceback" not in res.err
