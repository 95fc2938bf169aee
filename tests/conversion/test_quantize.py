"""``sshconv quantize``: NNCF's INT8 IR of the full-size network, its manifest entries, and verify judging it by faces.

Runs on both stacks (NNCF 2.8 beside OpenVINO 2023.3, and today's NNCF beside today's
OpenVINO). The reference is the FP32 IR (``verify --against``), so no MXNet is needed; the
demo test checks an INT8 IR against MXNet itself.
"""

from __future__ import annotations

import json
import shutil

import pytest

from sshconv.conversion.manifest import read_manifest
from sshconv.conversion.quantize import DEFAULT_CALIBRATION_SEED
from sshconv.fsutil import sha256_file
from sshconv.runtimes.openvino import ir_weights
from sshconv.versions import package_version
from tests.conftest import assert_one_line_error, conversion_stack, run_cli

pytestmark = pytest.mark.slow
#: Calibration photos in these tests: enough for a quantized IR that keeps every face (measured: 8 and 300 alike).
CALIBRATION = 8


def _fp32(folder):
    return folder / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"


@pytest.fixture(scope="module")
def quantized_dir(request, converted_dir, tmp_path_factory):
    """A conversion folder with ``ir/mo/INT8`` by this stack's NNCF (``sshconv quantize --artifacts --via mo``, :data:`CALIBRATION`
    photos). On the conversion stack that is the session's one folder with everything (conftest's ``faces_dir``, quantized with
    ``--faces``); the runtime stack quantizes a copy of the shared conversion itself, with today's NNCF. Read-only."""
    if conversion_stack():
        return request.getfixturevalue("faces_dir")
    out = tmp_path_factory.mktemp("quantized") / "converted"
    shutil.copytree(converted_dir, out)
    res = run_cli("quantize", "--artifacts", out, "--via", "mo", "--calibration-count", CALIBRATION, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["quantization"]["ir/mo/INT8"]["calibration"]["count"] == CALIBRATION
    return out


def test_quantize_adds_the_int8_ir_to_the_manifest(quantized_dir, converted_dir):
    manifest = read_manifest(quantized_dir)
    manifest.check()  # every file, the new ones too, has the sha256 the manifest gives
    int8 = {a.path: a for a in manifest.artifacts if a.weights == "INT8" and not a.kind.startswith("faces-")}
    assert set(int8) == {"ir/mo/INT8/ssh-mxnet.xml", "ir/mo/INT8/ssh-mxnet.bin"}
    assert "INT8" in manifest.weights
    # The FP32 and FP16 artifacts are listed as before, unchanged.
    before = {a.path: a.sha256 for a in read_manifest(converted_dir).artifacts}
    assert {a.path: a.sha256 for a in manifest.artifacts if a.weights != "INT8" and not a.kind.startswith("faces-")} == before
    record = manifest.quantization["ir/mo/INT8"]
    fp32 = next(a for a in manifest.irs(("mo",)) if a.weights == "FP32")
    assert record["from"] == {
        "path": fp32.path,
        "sha256": fp32.sha256,
        "bin_sha256": sha256_file(_fp32(quantized_dir).with_suffix(".bin")),
    }
    calib = record["calibration"]
    assert calib["count"] == CALIBRATION and calib["seed"] == DEFAULT_CALIBRATION_SEED
    assert len({i["tensor_sha256"] for i in calib["images"]}) == CALIBRATION  # eight different photos, each hashed
    assert record["tools"]["nncf"] == package_version("nncf") != "not installed"
    assert record["settings"]["preset"] == "performance"
    xml = quantized_dir / "ir/mo/INT8/ssh-mxnet.xml"
    assert ir_weights(xml) == "INT8"
    # OpenVINO stores the quantized weights as int8: about a quarter of the FP32 file.
    assert xml.with_suffix(".bin").stat().st_size < 0.3 * _fp32(quantized_dir).with_suffix(".bin").stat().st_size


@pytest.mark.neutral
def test_verify_judges_the_int8_ir_by_its_faces_and_self_test_catches_its_controls(quantized_dir, tmp_path):
    report = tmp_path / "report.json"
    res = run_cli("verify", "--against", _fp32(quantized_dir), "--ir", quantized_dir / "ir/mo/INT8/ssh-mxnet.xml",
                  "--self-test", "--json-file", report)  # fmt: skip
    assert res.code == 0, res.out + res.err
    doc = json.loads(report.read_text())
    assert len([s for s in doc["samples"] if s["kind"] == "photo"]) == 8  # more photos by default for INT8
    check = doc["checks"][0]
    assert check["weights"] == "INT8" and check["tolerance_set"] == "INT8"
    parity = check["detection_parity"]
    assert parity["thresholds"] == {"recall": 0.95, "precision": 0.95, "score_slack": 0.05}
    assert parity["recall"] >= 0.95 and parity["precision"] >= 0.95
    assert sum(s["reference"] for s in parity["samples"]) >= 20
    # Element-wise, INT8 is far outside the float tolerances: shown, not judged.
    assert all(o["informational"] for o in check["outputs"])
    assert max(o["margin"] for o in check["outputs"]) > 1
    # The INT8 controls: each edit of the quantized model must fail by its faces.
    assert {c["name"]: c["caught"] for c in doc["controls"]} == {"no_mean": True, "no_reverse": True}
    assert "judged by faces" in res.out and "recall" in res.out


@pytest.mark.neutral
def test_the_int8_ir_reshapes_and_keeps_its_faces_at_other_shapes(quantized_dir, tmp_path):
    """INT8 IRs take any frame and batch like the others: judged by faces on 16:9 frames in batches of 2 (one shape
    with both: the network's card shape is everywhere else)."""
    manifest = json.loads((quantized_dir / "manifest.json").read_text())
    shapes = {a["path"]: a.get("input_shape") for a in manifest["artifacts"]}
    assert shapes["ir/mo/INT8/ssh-mxnet.xml"] == [1, 3, 640, 640]
    report = tmp_path / "report.json"
    res = run_cli("verify", "--against", _fp32(quantized_dir), "--ir", quantized_dir / "ir/mo/INT8/ssh-mxnet.xml",
                  "--shapes", "2x480x848", "--samples", "0", "--photos", "4", "--json-file", report)  # fmt: skip
    assert res.code == 0, res.out + res.err
    (check,) = json.loads(report.read_text())["checks"]
    assert set(check["shapes"]) == {"2x3x480x848"} and all(v["passed"] for v in check["shapes"].values())
    assert check["detection_parity"]["recall"] >= 0.95


@pytest.mark.neutral
def test_a_wrong_conversion_then_quantized_fails_verify(quantized_dir, tmp_path):
    """Mean subtracted but channels not reversed, then quantized: the INT8 check must fail."""
    import openvino as ov

    from sshconv.verification.controls import control_models

    model = ov.Core().read_model(str(_fp32(quantized_dir)))
    wrong = dict((name, m) for name, _, m in control_models(model, weights=False))["no_reverse"]
    wrong_xml = tmp_path / "wrong" / "ssh-mxnet.xml"
    wrong_xml.parent.mkdir()
    ov.save_model(wrong, str(wrong_xml), compress_to_fp16=False)
    int8 = tmp_path / "wrong-int8" / "ssh-mxnet.xml"
    res = run_cli("quantize", "--ir", wrong_xml, "--out", int8, "--calibration-count", CALIBRATION)
    assert res.code == 0, res.err
    report = tmp_path / "report.json"
    # INT8's default eight photos: on four, this wrong model can keep every face of the synthetic detector.
    res = run_cli("verify", "--against", _fp32(quantized_dir), "--ir", int8, "--json-file", report)
    assert res.code == 1, res.out
    parity = json.loads(report.read_text())["checks"][0]["detection_parity"]
    assert parity["recall"] < 0.95 and parity["missed"] >= 2


@pytest.mark.neutral
def test_quantize_one_ir_on_your_own_photos_and_time_it_in_throughput_mode(quantized_dir, tmp_path):
    photos = tmp_path / "photos"
    assert run_cli("photos", "--output-dir", photos, "--count", 4, "--seed", 5).code == 0
    out = tmp_path / "int8" / "model.xml"
    res = run_cli("quantize", "--ir", _fp32(quantized_dir), "--out", out, "--calibration", photos,
                  "--calibration-count", 3, "--preset", "mixed", "--json")  # fmt: skip
    assert res.code == 0, res.err
    record = json.loads(res.out)
    calib = record["calibration"]
    files = sorted(p for p in (photos / "images").rglob("*.jpg"))[:3]
    assert [i["name"] for i in calib["images"]] == [p.relative_to(photos).as_posix() for p in files]
    assert [i["file_sha256"] for i in calib["images"]] == [sha256_file(p) for p in files]
    assert calib["seed"] is None and record["settings"]["preset"] == "mixed"
    assert ir_weights(out) == "INT8"

    res = run_cli("bench", "--ir", out, "--mode", "throughput", "--seconds", "1", "--json")
    assert res.code == 0, res.err
    bench = json.loads(res.out)
    case = bench["cases"][0]
    assert bench["mode"] == case["mode"] == "throughput" and case["weights"] == "INT8"
    assert case["frames"] >= case["requests"] >= 1 and case["streams"] >= 1
    assert case["fps"] == pytest.approx(case["frames"] / case["elapsed_s"])
    assert bench["engine_config"]["openvino"]["PERFORMANCE_HINT"].startswith("THROUGHPUT")


@pytest.mark.neutral
def test_bench_of_a_conversion_plans_its_int8_ir(quantized_dir):
    """``bench --artifacts`` of a quantized folder times its INT8 IR, once (no bf16 twin: INT8 runs as it is). Timing an
    INT8 IR for real: ``test_quantize_one_ir_on_your_own_photos_and_time_it_in_throughput_mode`` above."""
    from sshconv.deploy.bench import plan_bench

    labels = [e.label for e in plan_bench(artifacts=quantized_dir, mxnet=False)]
    assert "ir/mo/INT8" in labels and not any("INT8" in n and "bf16" in n for n in labels), labels


def _broken_photos(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    return folder


@pytest.mark.parametrize(
    "argv, code, fragment",
    [
        (lambda d, t: ["--ir", d / "ir/mo/FP16/ssh-mxnet.xml", "--out", t / "x.xml"], 2, "FP16"),
        (lambda d, t: ["--ir", d / "ir/mo/INT8/ssh-mxnet.xml", "--out", t / "x.xml"], 2, "INT8"),
        (lambda d, t: ["--ir", _fp32(d)], 2, "--out"),
        (lambda d, t: ["--ir", _fp32(d), "--out", _fp32(d)], 2, "overwrite"),
        (lambda d, t: ["--ir", _fp32(d), "--out", t / "x.bin"], 2, ".xml"),
        (lambda d, t: ["--artifacts", d, "--ir", _fp32(d), "--out", t / "x.xml"], 2, "--artifacts"),
        (lambda d, t: [], 2, "--artifacts"),
        (lambda d, t: ["--artifacts", d, "--calibration-count", "0"], 2, "--calibration-count"),
        (lambda d, t: ["--artifacts", d, "--calibration", t / "missing"], 2, "--calibration"),
        (lambda d, t: ["--artifacts", d, "--calibration", t], 2, "no image files"),
        (lambda d, t: ["--artifacts", d, "--calibration", _broken_photos(t)], 2, "a.jpg"),
        (lambda d, t: ["--artifacts", t], 2, "manifest.json"),
        (lambda d, t: ["--ir", _fp32(d), "--out", t / "x.xml", "--via", "mo"], 2, "--via"),
    ],
)  # fmt: skip
def test_bad_quantize_input_is_one_line_and_writes_nothing(quantized_dir, tmp_path, argv, code, fragment):
    before = sha256_file(quantized_dir / "manifest.json")
    res = run_cli("quantize", *argv(quantized_dir, tmp_path))
    assert_one_line_error(res, code, fragment)
    assert not (tmp_path / "x.xml").exists() and not (tmp_path / "x.bin").exists()
    assert sha256_file(quantized_dir / "manifest.json") == before


def test_an_ignored_scope_that_matches_nothing_is_a_usage_error(quantized_dir, tmp_path):
    res = run_cli("quantize", "--ir", _fp32(quantized_dir), "--out", tmp_path / "x.xml", "--calibration-count", 1,
                  "--ignore", "no_such_layer_.*")  # fmt: skip
    assert_one_line_error(res, 2, "--ignore")
    assert not (tmp_path / "x.xml").exists()


def test_a_changed_artifact_is_refused_before_quantizing(quantized_dir, tmp_path):
    copy = tmp_path / "converted"
    shutil.copytree(quantized_dir, copy)
    with open(_fp32(copy).with_suffix(".bin"), "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    res = run_cli("quantize", "--artifacts", copy, "--calibration-count", 1)
    assert_one_line_error(res, 4, "sha256")
    assert read_manifest(copy).quantization == read_manifest(quantized_dir).quantization


@pytest.mark.neutral
def test_an_int8_check_on_few_faces_says_so(quantized_dir, golden_file, tmp_path):
    """A golden file saved with the default inputs holds ~10 faces: the INT8 check runs, and notes that it says little."""
    report = tmp_path / "report.json"
    res = run_cli("verify", "--golden", golden_file, "--ir", quantized_dir / "ir/mo/INT8/ssh-mxnet.xml", "--json-file", report)
    check = json.loads(report.read_text())["checks"][0]
    assert check["weights"] == "INT8" and "reference faces on these inputs" in check["note"], res.out
    assert "note: only" in res.out and "8 generated ones" in res.out
