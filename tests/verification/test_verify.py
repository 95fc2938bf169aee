"""`sshconv verify`: passes right conversions, fails wrong ones, and says where they go wrong.

MXNet runs once per session (the ``verify_artifacts`` fixture, which also writes a golden
file); later checks verify against that golden file, so they need only OpenVINO.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from sshconv.cli.verify import parse_overrides
from sshconv.errors import IntegrityError, UsageError
from sshconv.fsutil import sha256_file
from sshconv.model import Tolerance, load_model_spec
from sshconv.model.network import output_names
from sshconv.verification.compare import compare_outputs
from sshconv.verification.golden import load_golden
from sshconv.verification.tolerances import resolve_tolerances

from ..conftest import assert_one_line_error, break_ir_weights, run_cli, run_sshconv, tiny_ir


def _ir(converted_dir: Path, route: str = "mo", precision: str = "FP32") -> Path:
    return converted_dir / "ir" / route / precision / "ssh-mxnet.xml"


# --------------------------------------------------------------------------- fast, no model


@pytest.mark.quick
def test_overrides_are_parsed_and_applied_output_over_family_over_spec():
    spec = load_model_spec()
    ov = parse_overrides(["cls_prob=0.5", "rpn_cls_prob_reshape_stride8=0.25"], ["bbox_pred=0.1"])
    tol = resolve_tolerances(spec, "FP32", ov)
    assert tol["rpn_cls_prob_reshape_stride32"].atol == 0.5
    assert tol["rpn_cls_prob_reshape_stride8"].atol == 0.25
    assert tol["rpn_bbox_pred_stride8"].rtol == 0.1
    assert tol["rpn_bbox_pred_stride8"].atol == spec.tolerance("FP32", "rpn_bbox_pred_stride8").atol
    for bad in (["cls_prob"], ["cls_prob=x"], ["=1"], ["cls_prob=-1"], ["cls_prob=nan"]):
        with pytest.raises(UsageError, match="expected NAME=VALUE"):
            parse_overrides(bad)
    with pytest.raises(UsageError, match="'boxes': not an output or family"):
        resolve_tolerances(spec, "FP32", parse_overrides(["boxes=1"]))


@pytest.mark.quick
def test_compare_outputs_statistics_and_structural_problems():
    rng = np.random.default_rng(0)
    names = output_names()[:3]
    ref = {n: rng.random((1, 4, 5, 5)).astype(np.float32) for n in names}
    cand = {n: v.copy() for n, v in ref.items()}
    cand[names[0]][0, 2, 3, 4] += 0.01  # one element off by 0.01
    cand[names[1]] = cand[names[1]][:, :2]  # wrong shape
    cand[names[2]][0, 0, 0, 0] = np.nan
    tol = {n: Tolerance(1e-3, 0.0) for n in names}
    stats = {s.name: s for s in compare_outputs([ref], [cand], tol)}
    s = stats[names[0]]
    assert s.argmax_abs == (0, 0, 2, 3, 4) and s.max_abs == pytest.approx(0.01, rel=1e-3)
    assert s.margin == pytest.approx(10.0, rel=1e-3) and s.violations == 1 and not s.passed
    assert s.median_abs == 0.0 and s.p99_abs < s.max_abs
    assert "shape (1, 2, 5, 5)" in stats[names[1]].problem
    assert stats[names[2]].nonfinite == 1 and "NaN" in stats[names[2]].problem and not stats[names[2]].passed
    missing = compare_outputs([ref], [{}], tol)
    assert all(m.problem == "missing in the converted model" for m in missing)


@pytest.mark.quick
def test_samples_are_seeded_patterns_and_resized_photos(tmp_path):
    from PIL import Image

    from sshconv.verification import make_samples

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.new("RGB", (320, 200), (255, 0, 0)).save(photos / "red.png")
    a = make_samples((1, 3, 64, 64), samples=2, seed=5, images=photos)
    b = make_samples((1, 3, 64, 64), samples=2, seed=5)
    assert [s.kind for s in a] == ["random", "random", "flat", "gradient", "extremes", "photo", "photo", "photo"]
    assert all(x.sha256 == y.sha256 for x, y in zip(a, b)), "same seed, same inputs"
    assert [s.kind for s in make_samples((1, 3, 64, 64), samples=0, photos=0)] == ["flat", "gradient", "extremes"]
    assert a[0].sha256 != make_samples((1, 3, 64, 64), samples=1, seed=6)[0].sha256
    for s in a:
        assert s.tensor.shape == (1, 3, 64, 64) and s.tensor.dtype == np.float32
        assert s.tensor.min() >= 0 and s.tensor.max() <= 255 and np.all(s.tensor == np.round(s.tensor))
    generated = a[5:7]  # the first photos of `sshconv photos --seed 5`, decoded as detect decodes them
    assert [s.label.split(" (")[0] for s in generated] == ["photo #0", "photo #1"]
    c = make_samples((1, 3, 64, 64), samples=0, seed=6, patterns=())
    assert [s.sha256 for s in c] != [s.sha256 for s in generated], "the seed picks the photos too"
    photo = a[-1]
    assert photo.scale == (64 / 200, 64 / 320)
    np.testing.assert_array_equal(photo.tensor[0, :, 10, 10], [0, 0, 255])  # red, in BGR order
    grad = a[3].tensor[0]
    assert not np.array_equal(grad[0], grad[2]), "channel-distinct ramps, so a channel swap shows"
    assert {0.0, 255.0} <= set(np.unique(a[4].tensor))


# --------------------------------------------------------------------------- full size


@pytest.mark.slow
def test_every_artifact_matches_mxnet_and_the_routes_match_each_other(verify_artifacts, synth_dir, converted_dir):
    res = verify_artifacts.result
    assert res.code == 0, res.out + res.err
    for label in ("ir/mo/FP32", "ir/mo/FP16", "ir/onnx/FP32", "ir/onnx/FP16", "onnx"):
        assert f"\n{label}: " in res.out
    assert "ir/onnx/FP32 vs ir/mo/FP32" in res.out and "ir/onnx/FP16 vs ir/mo/FP16" in res.out
    faces = [int(n) for n in re.findall(r"faces: (\d+) in the reference on 6 inputs, 0 missed, 0 extra", res.out)]
    assert len(faces) == 7 and min(faces) >= 3, "5 checks and 2 route pairs, each comparing the photos' faces"
    assert res.out.rstrip().endswith("verdict: PASS")
    report = json.loads(verify_artifacts.report.read_text())
    assert report["passed"] and report["exit_code"] == 0 and report["seed"] == 0
    assert report["environment"]["openvino"] and report["environment"]["mxnet"]
    assert report["hashes"]["checkpoint:sshb-0000.params"] == sha256_file(synth_dir / "sshb-0000.params")
    assert [s["kind"] for s in report["samples"]] == ["random", "flat", "gradient", "extremes", "photo", "photo"]
    spec = load_model_spec(synth_dir / "model.yml")
    checks = {c["label"]: c for c in report["checks"]}
    for label, check in checks.items():
        assert check["execution"] == "f32" and check["execution_used"] == "f32", label
        assert check["passed"] and check["margin"] < 1.0
        parity = check["detection_parity"]
        assert parity["passed"] and parity["missed"] == parity["extra"] == 0, label
        assert all(d["reference"] >= 1 for d in parity["samples"][-2:]), "the photos' faces are found and compared"
        for o in check["outputs"]:
            assert o["candidate_shape"] == o["reference_shape"]
            tol = spec.tolerance(check["tolerance_set"], o["name"])
            assert o["tolerance"] == {"atol": tol.atol, "rtol": tol.rtol}
            for key in ("max_abs", "mean_abs", "median_abs", "p99_abs", "max_rel", "p99_rel", "argmax_abs"):
                assert key in o
    assert checks["ir/mo/FP16"]["tolerance_set"] == "FP16" and checks["ir/mo/FP32"]["tolerance_set"] == "FP32"
    assert checks["ir/mo/FP16"]["weights"] == "FP16" and checks["onnx"]["weights"] == "FP32"
    # FP16 weights really are FP16: their error is far above FP32's, yet within the FP16 tolerance.
    fp32 = max(o["max_abs"] for o in checks["ir/mo/FP32"]["outputs"])
    fp16 = max(o["max_abs"] for o in checks["ir/mo/FP16"]["outputs"])
    assert fp16 > 20 * fp32
    assert checks["ir/mo/FP32"]["model_sha256"]["ssh-mxnet.bin"] == sha256_file(_ir(converted_dir).with_suffix(".bin"))


@pytest.mark.neutral
@pytest.mark.slow
def test_self_test_negative_controls_each_fail_by_a_wide_margin(golden_few_file, converted_dir, tmp_path):
    report_path = tmp_path / "self.json"
    res = run_cli(
        "verify", "--golden", golden_few_file, "--ir", _ir(converted_dir), "--self-test", "--json-file", report_path
    )  # fmt: skip
    assert res.code == 0, res.out + res.err
    report = json.loads(report_path.read_text())
    controls = {c["name"]: c for c in report["controls"]}
    assert set(controls) == {"no_mean", "no_reverse", "scaled_weight"}
    assert all(c["caught"] and not c["check"]["passed"] for c in controls.values())
    real = report["checks"][0]["margin"]
    assert real < 0.5
    assert controls["no_mean"]["check"]["margin"] > 100 and controls["no_reverse"]["check"]["margin"] > 100
    assert controls["scaled_weight"]["check"]["margin"] > 50, "a 1 % weight change lands far outside FP32 tolerance"
    assert "conv3_1" in controls["scaled_weight"]["description"]
    assert res.out.count("caught (FAIL as expected)") == 3


@pytest.mark.slow
def test_hand_broken_conversion_fails_and_the_first_divergence_is_the_broken_layer(
    verify_artifacts, synth_dir, converted_dir, tmp_path
):
    broken = break_ir_weights(_ir(converted_dir), tmp_path / "broken", "conv4_2_weight", 1.02)
    report_path = tmp_path / "broken.json"
    res = run_cli(
        "verify", "--model", synth_dir / "model.yml", "--input-dir", synth_dir, "--golden", verify_artifacts.golden,
        "--ir", broken, "--json-file", report_path,
    )  # fmt: skip
    assert res.code == 1, res.out + res.err
    assert "first diverging tensor: conv4_2 " in res.out and res.out.rstrip().endswith("verdict: FAIL")
    div = json.loads(report_path.read_text())["checks"][0]["divergence"]
    assert div["tensor"] == "conv4_2"
    errors = dict((c["name"], c["error"]) for c in div["compared"])
    assert errors["conv4_1"] < div["threshold"] < errors["conv4_2"]


@pytest.mark.neutral
@pytest.mark.slow
def test_fail_fast_stops_after_the_first_model_that_fails(golden_few_file, converted_dir, tmp_path):
    """Zero tolerances: the IR's own run fails, and --fail-fast does not run its bf16 twin (which runs without it: the
    round trip below)."""
    argv = ["verify", "--golden", golden_few_file, "--ir", _ir(converted_dir, "onnx"), "--bf16", "--progress", "json",
            "--atol", "cls_prob=0", "--rtol", "cls_prob=0", "--atol", "bbox_pred=0", "--rtol", "bbox_pred=0"]  # fmt: skip
    res = run_cli(*argv, "--fail-fast", "--json-file", tmp_path / "fast.json")
    assert res.code == 1, res.out + res.err
    report = json.loads((tmp_path / "fast.json").read_text())
    assert [c["label"] for c in report["checks"]] == [report["stopped_after"]] and not report["passed"]
    runs = [json.loads(line) for line in res.err.splitlines()]
    assert max(e.get("done", 0) for e in runs if e.get("event") == "progress") == len(report["samples"])
    assert "fail fast: stopped after" in res.out


@pytest.mark.neutral
@pytest.mark.slow
def test_golden_round_trip_needs_no_mxnet_and_detects_tampering(golden_file, converted_dir, tmp_path):
    assert golden_file.is_file()
    blocker = tmp_path / "no-mxnet"
    (blocker / "mxnet").mkdir(parents=True)
    (blocker / "mxnet" / "__init__.py").write_text("raise ImportError('mxnet is not installed here')\n")
    env = {"PYTHONPATH": str(blocker)}
    proc = run_sshconv(
        "verify", "--golden", golden_file, "--ir", _ir(converted_dir, "onnx"), "--bf16", "--progress", "json", env=env
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Progress: one event per model x sample (the IR with f32 and with bf16 execution, 6 inputs each).
    events = [json.loads(line) for line in proc.stderr.splitlines()]
    runs = [e["item"] for e in events if e["event"] == "progress"]
    assert {e["stage"] for e in events} == {"verify"} and len(runs) == 12 and runs[-1].startswith("ir bf16 × photo #1")
    assert events[0]["event"] == "start" and events[0]["total"] == 12 and events[-1]["event"] == "done"
    assert "reference: golden:" in proc.stdout and "verdict: PASS" in proc.stdout
    # The bf16 run has its own tolerances and says what the CPU really ran (f32 on CPUs without bf16).
    assert "ir bf16: " in proc.stdout and "(BF16 tolerances, ran " in proc.stdout
    # One flipped byte in a stored output array: refused with exit 4 (integrity), not silently used.
    data = dict(np.load(golden_file))
    key = next(k for k in data if k.startswith("output_0_"))
    data[key] = data[key].copy()
    data[key].flat[0] += 1.0
    tampered = tmp_path / "tampered.npz"
    np.savez_compressed(tampered, **data)
    res = run_cli("verify", "--golden", tampered, "--ir", _ir(converted_dir))
    assert_one_line_error(res, 4, "does not match its sha256")


@pytest.mark.neutral
@pytest.mark.slow
def test_tolerance_flags_override_the_spec(golden_few_file, converted_dir):
    res = run_cli(
        "verify",
        "--golden",
        golden_few_file,
        "--ir",
        _ir(converted_dir),
        "--atol",
        "bbox_pred=0",
        "--rtol",
        "bbox_pred=0",
    )
    assert res.code == 1, res.out + res.err
    # Zero tolerance fails exactly the box outputs; the class probabilities keep model.yml's tolerance and pass.
    rows = {ln.split()[0]: ln.split() for ln in res.out.splitlines() if ln.strip().startswith("rpn_")}
    assert all("FAIL" in r for n, r in rows.items() if "bbox" in n), rows
    assert all(r[-1] == "PASS" for n, r in rows.items() if "cls_prob" in n), rows
    assert "verdict: FAIL" in res.out


# --------------------------------------------------------------------------- bad input: exit 2


def _tiny_ir(folder: Path, shape) -> Path:
    return tiny_ir(folder, shape, output_names())


@pytest.mark.quick
def test_bad_inputs_exit_2_with_one_line(tmp_path):
    golden = tmp_path / "g.npz"
    xml = tmp_path / "m.xml"
    xml.write_text("<net></net>")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--golden", golden], "pass one of --ir, --onnx or --artifacts"),
        (["--ir", tmp_path / "none.xml", "--golden", golden], "none.xml: no such file"),
        (["--ir", xml, "--golden", golden], "its weights m.bin are missing"),
        (["--ir", xml, "--onnx", xml], "pass only one of --ir, --onnx, --artifacts"),
        (["--ir", xml, "--golden", golden, "--save-golden", golden], "--golden and --save-golden do not go together"),
        (["--ir", xml], "pass the MXNet checkpoint as --input-dir"),
        (["--ir", xml, "--golden", golden, "--atol", "cls_prob"], "expected NAME=VALUE"),
        (["--ir", xml, "--golden", golden, "--rtol", "boxes=1"], "'boxes': not an output or family"),
        (["--artifacts", empty, "--golden", golden], "no manifest.json"),
        (["--ir", _tiny_ir(tmp_path / "small", (1, 3, 320, 320)), "--golden", golden], "cannot reshape its input [1,3,320,320]"),
        (["--ir", _tiny_ir(tmp_path / "ok", (1, 3, 640, 640)), "--golden", golden], "golden file"),
        (["--ir", _tiny_ir(tmp_path / "ok2", (1, 3, 640, 640)), "--input-dir", tmp_path, "--images", empty],
         "holds no image files"),
    ]  # fmt: skip
    for argv, fragment in cases:
        res = run_cli("verify", *argv)
        assert_one_line_error(res, 2, fragment)
    assert not golden.exists()


@pytest.mark.quick
def test_verify_help_has_an_example():
    proc = run_sshconv("verify", "--help")
    assert proc.returncode == 0 and "example:" in proc.stdout and "--self-test" in proc.stdout


@pytest.mark.neutral
@pytest.mark.slow
def test_a_wrong_ir_fails_against_the_golden_file_without_mxnet(golden_few_file, converted_dir, tmp_path):
    """What a deployment team runs on its own stack: a right IR passes, a hand-broken one exits 1."""
    broken = break_ir_weights(_ir(converted_dir), tmp_path / "broken", "conv4_2_weight", 1.02)
    res = run_cli("verify", "--golden", golden_few_file, "--ir", broken)
    assert res.code == 1 and "verdict: FAIL" in res.out, res.out + res.err


@pytest.mark.neutral
@pytest.mark.slow
def test_one_artifact_against_another(converted_dir, tmp_path):
    """--against: the FP32 IR is the reference for the ONNX-route FP16 IR (FP16 tolerances); a broken IR fails."""
    report = tmp_path / "against.json"
    few = ("--samples", "0", "--photos", "1")  # the patterns and a photo: a verdict needs no more
    ok = run_cli(
        "verify", "--against", _ir(converted_dir), "--ir", _ir(converted_dir, "onnx", "FP16"), *few, "--json-file", report
    )
    assert ok.code == 0, ok.out + ok.err
    doc = json.loads(report.read_text())
    assert doc["reference"] == f"model:{_ir(converted_dir)}" and doc["checks"][0]["tolerance_set"] == "FP16"
    assert doc["hashes"]["reference:ssh-mxnet.bin"] == sha256_file(_ir(converted_dir).with_suffix(".bin"))
    broken = break_ir_weights(_ir(converted_dir), tmp_path / "broken", "conv4_2_weight", 1.02)
    assert run_cli("verify", "--against", _ir(converted_dir), "--ir", broken, *few).code == 1
    both = run_cli("verify", "--against", _ir(converted_dir), "--golden", tmp_path / "g.npz", "--ir", broken)
    assert_one_line_error(both, 2, "--golden and --against are two references")


@pytest.mark.slow
def test_golden_files_not_golden_files_exit_2_and_damaged_ones_exit_4(golden_file, converted_dir, tmp_path):
    ir = _ir(converted_dir)
    text = tmp_path / "text.npz"
    text.write_text("not a golden file\n")
    other = tmp_path / "other.npz"
    np.savez_compressed(other, weights=np.zeros(3))
    for bad in (text, other):
        assert_one_line_error(run_cli("verify", "--golden", bad, "--ir", ir), 2, f"golden file {bad}: not a golden npz")
    # Not a file at all: never read (a pipe would be waited on, a device read for ever), said as it is.
    pipe = tmp_path / "pipe.npz"
    os.mkfifo(pipe)
    for bad, kind in ((pipe, "a named pipe (FIFO)"), ("/dev/zero", "a character device"), (tmp_path, "a folder")):
        assert_one_line_error(run_cli("verify", "--golden", bad, "--ir", ir), 2, f"golden file {bad}: {kind}, not a regular file")
    # Damage is an integrity failure wherever it is: cut off, or one flipped bit anywhere (20 places tried).
    blob = golden_file.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(blob[: len(blob) // 2])
    assert_one_line_error(run_cli("verify", "--golden", truncated, "--ir", ir), 4, f"golden file {truncated}", "damaged")
    rng = np.random.default_rng(27)
    flipped = tmp_path / "flipped.npz"
    for pos in rng.integers(0, len(blob), 20):
        b = bytearray(blob)
        b[pos] ^= 1 << int(rng.integers(8))
        flipped.write_bytes(bytes(b))
        with pytest.raises(IntegrityError, match="damaged"):
            load_golden(flipped)
    data = dict(np.load(golden_file))
    del data[next(k for k in data if k.startswith("output_1_"))]
    lost = tmp_path / "lost.npz"
    np.savez_compressed(lost, **data)
    assert_one_line_error(run_cli("verify", "--golden", lost, "--ir", ir), 4, "is missing; the file is damaged")


@pytest.mark.slow
def test_artifacts_changed_after_conversion_exit_4_before_anything_runs(converted_dir, golden_file, tmp_path):
    copy = tmp_path / "converted"
    shutil.copytree(converted_dir, copy)
    bin_ = copy / "ir" / "onnx" / "FP16" / "ssh-mxnet.bin"
    data = bytearray(bin_.read_bytes())
    data[len(data) // 2] ^= 0x01
    bin_.write_bytes(bytes(data))
    res = run_cli("verify", "--golden", golden_file, "--artifacts", copy, "--progress", "json")
    assert_one_line_error(res, 4, f"{bin_}: sha256", "does not match the manifest's", "convert again")
    (copy / "ir" / "mo" / "FP32" / "ssh-mxnet.xml").unlink()
    res = run_cli("verify", "--golden", golden_file, "--artifacts", copy)
    assert_one_line_error(res, 4, "lists ir/mo/FP32/ssh-mxnet.xml, which is missing")


@pytest.mark.quick
@pytest.mark.slow
def test_artifacts_converted_from_another_checkpoint_exit_2(synth_dir, converted_dir, tmp_path):
    copy = tmp_path / "converted"
    shutil.copytree(converted_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["source"]["files"]["sshb-0000.params"]["sha256"] = "0" * 64  # as if converted from other weights
    (copy / "manifest.json").write_text(json.dumps(manifest))
    res = run_cli("verify", "--model", synth_dir / "model.yml", "--input-dir", synth_dir, "--artifacts", copy, "--samples", "0")
    assert_one_line_error(res, 2, "was converted from a different checkpoint", "sshb-0000.params differ", "--input-dir")


@pytest.mark.neutral
@pytest.mark.slow
def test_negative_controls_at_fp16_and_a_control_that_passes_fails_the_command(golden_few_file, converted_dir, tmp_path):
    """At FP16 every control is still caught (the 1 % weight control by the smallest margin); and when tolerances
    are so loose that a control passes, the verifier reports itself blind and the command exits 1."""
    fp16 = _ir(converted_dir, "mo", "FP16")
    report = tmp_path / "fp16.json"
    res = run_cli("verify", "--golden", golden_few_file, "--ir", fp16, "--self-test", "--json-file", report)
    assert res.code == 0, res.out + res.err
    controls = {c["name"]: c["check"]["margin"] for c in json.loads(report.read_text())["controls"]}
    assert controls["no_mean"] > 50 and controls["no_reverse"] > 50, controls
    assert 1.5 < controls["scaled_weight"] < 50, controls  # caught, but closest to the tolerance
    loose = run_cli(
        "verify", "--golden", golden_few_file, "--ir", fp16, "--self-test", "--atol", "cls_prob=10", "--atol", "bbox_pred=1000"
    )  # fmt: skip
    assert loose.code == 1, loose.out + loose.err
    assert "  ir: PASS" in loose.out and loose.out.count("NOT CAUGHT") == 3 and "verdict: FAIL" in loose.out


@pytest.mark.neutral
@pytest.mark.slow
def test_bf16_tolerances_admit_bf16_arithmetic_and_still_catch_preprocessing_mistakes(golden_few_file, converted_dir):
    """Emulated bf16 (weights and activations rounded to bfloat16) passes the BF16 tolerances; a conversion
    without its mean subtraction, run the same way, fails them. Under the old tolerances (atol 1.0 / 5.0) it passed."""
    import openvino as ov

    from sshconv.runtimes import OpenVINORunner
    from sshconv.verification.bf16 import emulate_bf16
    from sshconv.verification.controls import control_models
    from sshconv.verification.golden import load_golden

    spec = load_model_spec()
    samples, refs, _ = load_golden(golden_few_file)
    model = ov.Core().read_model(str(_ir(converted_dir)))
    bf16 = resolve_tolerances(spec, "BF16")

    def margin(m, tolerances=bf16):
        with OpenVINORunner(emulate_bf16(m), spec, "f32") as runner:
            outs = [runner.infer(s.tensor) for s in samples]
        return max(o.margin for o in compare_outputs(refs, outs, tolerances))

    assert 0.05 < margin(model) <= 1.0, "bf16 arithmetic shows, and stays within the tolerance"
    no_mean = next(m for name, _, m in control_models(model, spec.input) if name == "no_mean")
    assert margin(no_mean) > 3
    old = {n: Tolerance(1.0, 0.0) if "cls" in n else Tolerance(5.0, 0.5) for n in spec.output_names}
    assert margin(no_mean, old) < 1, "the old BF16 tolerances could not fail this"


def test_a_check_whose_outputs_pass_but_whose_faces_differ_fails():
    """Detection parity is part of the verdict: outputs within (here, huge) tolerances do not save lost faces."""
    from sshconv.detection.decode import DecodeConfig
    from sshconv.model.spec import Tolerance
    from sshconv.verification.compare import compare_run, faces_of, score_slack
    from sshconv.verification.results import CheckResult, Sample

    ref = {}
    for s, side in ((32, 20), (16, 40), (8, 80)):
        prob = np.zeros((1, 4, side, side), np.float32)
        prob[:, :2] = 1.0
        ref[f"rpn_cls_prob_reshape_stride{s}"] = prob
        ref[f"rpn_bbox_pred_stride{s}"] = np.zeros((1, 8, side, side), np.float32)
    ref["rpn_cls_prob_reshape_stride8"][0, [0, 2], 30, 30] = [0.05, 0.95]  # one face
    lost = {k: v.copy() for k, v in ref.items()}
    lost["rpn_cls_prob_reshape_stride8"][0, [0, 2], 30, 30] = [0.9, 0.1]
    tolerances = {name: Tolerance(10.0, 0.0) for name in ref}
    config = DecodeConfig()
    samples = [Sample(0, "photo", "p", np.zeros((1, 3, 640, 640), np.float32))]
    boxes = [faces_of(ref, samples[0], config, score_slack(tolerances))]
    same = compare_run(CheckResult("a", "m", "mxnet", "FP32", "f32", "f32"), [ref], [ref], tolerances, samples, boxes, config)
    assert same.passed and same.missed == 0
    got = compare_run(CheckResult("b", "m", "mxnet", "FP32", "f32", "f32"), [ref], [lost], tolerances, samples, boxes, config)
    assert all(o.passed for o in got.outputs) and got.missed == 1 and not got.passed
    assert got.to_dict()["detection_parity"]["passed"] is False
