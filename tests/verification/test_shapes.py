"""Any frame, any batch: shapes are parsed and refused in one line, and verify proves the artifacts at each.

MXNet runs once (the ``verify_shapes`` fixture: the ONNX file at a size no multiple of 8
and at a batch of 2, writing a golden file of those shapes). The
runtime stack re-checks every artifact at those shapes from that golden file (its photo at each), the ONNX file under
ONNX Runtime included.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sshconv.errors import ModelFileError, UsageError
from sshconv.model.shapes import MIN_SIDE, PIXEL_BUDGET, SWEEP, parse_shape, parse_shapes
from sshconv.verification.golden import load_golden
from sshconv.verification.samples import make_shape_samples

from ..conftest import SWEEP_TEST_SHAPES, assert_one_line_error, conversion_stack, run_cli


@pytest.mark.quick
def test_shapes_are_written_three_ways_and_sweep_names_the_default_sweep():
    assert parse_shape("1x720x1280") == (1, 3, 720, 1280)
    assert parse_shape("720x1280") == (1, 3, 720, 1280)
    assert parse_shape("2x3x640x640") == (2, 3, 640, 640)
    assert parse_shapes(["sweep"]) == SWEEP
    assert parse_shapes("1x640x640, 2x640x640,1x640x640") == ((1, 3, 640, 640), (2, 3, 640, 640))
    assert SWEEP[2][2] % 16 and SWEEP[2][3] % 16  # no multiple of the strides: the crop and the cut-off edges


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0x640x640", "every dimension must be at least 1"),
        ("1x0x640", "every dimension must be at least 1"),
        (f"1x{MIN_SIDE - 1}x640", f"at least {MIN_SIDE} pixels"),
        ("1x4x640x640", "takes 3 channels"),
        ("4x1920x1080", f"over the budget of {PIXEL_BUDGET:,}"),
        ("640", "write it as NxHxW"),
        ("axbxc", "write it as NxHxW"),
    ],
)
@pytest.mark.quick
def test_a_shape_the_network_cannot_take_is_one_line_exit_2(text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_shape(text)
    res = run_cli("verify", "--golden", "g.npz", "--onnx", "m.onnx", "--shapes", text)
    assert_one_line_error(res, 2, fragment)


@pytest.mark.quick
def test_batch_samples_stack_distinct_images_and_each_is_first_once():
    samples = make_shape_samples([(1, 3, 64, 96), (3, 3, 64, 96)], samples=2, photos=1)
    single, batched = samples[:6], samples[6:]
    assert [s.tensor.shape for s in single] == [(1, 3, 64, 96)] * 6
    assert [s.tensor.shape for s in batched] == [(3, 3, 64, 96)] * 6
    assert [s.index for s in samples] == list(range(12))
    for j, s in enumerate(batched):
        for k in range(3):
            np.testing.assert_array_equal(s.tensor[k], single[(j + k) % 6].tensor[0])
        assert s.scale == single[j].scale and s.faces == single[j].faces
    assert "@ 3x3x64x96" in batched[0].label


@pytest.mark.quick
def test_onnx_runtime_refuses_a_fixed_file_at_another_shape_in_one_line():
    from sshconv.runtimes.onnxruntime import OnnxRuntimeRunner

    runner = OnnxRuntimeRunner("fixed.onnx")
    runner._declared = (1, 3, 640, 640)
    runner._check_takes((1, 3, 640, 640))
    with pytest.raises(ModelFileError, match=r"declares a fixed input \[1, 3, 640, 640\], cannot run \(1, 3, 481, 777\)"):
        runner._check_takes((1, 3, 481, 777))
    runner._declared = (-1, 3, -1, -1)
    runner._check_takes((2, 3, 481, 777))


@pytest.mark.quick
@pytest.mark.slow
def test_the_onnx_file_declares_dynamic_axes_and_the_manifest_says_what_each_artifact_takes(converted_dir):
    manifest = json.loads((converted_dir / "manifest.json").read_text())
    shapes = {a["path"]: a.get("input_shape") for a in manifest["artifacts"]}
    assert shapes["onnx/ssh-mxnet.onnx"] == ["batch", 3, "height", "width"]
    assert shapes["ir/mo/FP32/ssh-mxnet.xml"] == [1, 3, 640, 640]
    assert manifest["input"]["shape"] == [1, 3, 640, 640] and "reshape" in manifest["input"]["shapes"]


#: The shapes of the sweep fixture, as reports name them.
WANTED = {"1x3x481x777", "2x3x640x640"}


@pytest.mark.slow
def test_verify_at_an_odd_size_and_a_batch_passes(verify_shapes):
    if not conversion_stack():
        pytest.skip("runs MXNet")
    assert verify_shapes.result.code == 0, verify_shapes.result.out + verify_shapes.result.err
    doc = json.loads(verify_shapes.report.read_text())
    (check,) = doc["checks"]
    assert set(check["shapes"]) == WANTED and all(v["passed"] for v in check["shapes"].values())
    assert {tuple(o["input_shape"]) for o in check["outputs"]} == {(1, 3, 481, 777), (2, 3, 640, 640)}
    batch = [o for o in check["outputs"] if o["input_shape"][0] == 2]
    assert all(o["reference_shape"][0] == 2 for o in batch)
    assert "@ 1x3x481x777" in verify_shapes.result.out and "at 2x3x640x640" in verify_shapes.result.out


@pytest.mark.neutral
@pytest.mark.slow
def test_every_control_fails_at_every_shape(golden_shapes_photo_file, converted_dir, tmp_path):
    """The negative controls of the ONNX file, against MXNet's outputs at the sweep's shapes: each fails at each."""
    report = tmp_path / "r.json"
    res = run_cli("verify", "--golden", golden_shapes_photo_file, "--onnx", converted_dir / "onnx" / "ssh-mxnet.onnx",
                  "--self-test", "--json-file", report)  # fmt: skip
    assert res.code == 0, res.out + res.err
    doc = json.loads(report.read_text())
    assert len(doc["controls"]) == 3 and all(c["caught"] and c["missed_at"] == [] for c in doc["controls"])
    for c in doc["controls"]:
        assert set(c["check"]["shapes"]) == WANTED and not any(v["passed"] for v in c["check"]["shapes"].values())


@pytest.mark.slow
def test_the_golden_file_carries_its_shapes(golden_shapes_file):
    samples, refs, _ = load_golden(golden_shapes_file)
    assert {s.tensor.shape for s in samples} == {(1, 3, 481, 777), (2, 3, 640, 640)}
    odd = next(r for s, r in zip(samples, refs) if s.tensor.shape == (1, 3, 481, 777))
    assert odd["rpn_bbox_pred_stride8"].shape == (1, 8, 60, 96)  # 2 * (481 // 16), 2 * (777 // 16)
    assert odd["rpn_cls_prob_reshape_stride32"].shape == (1, 4, 15, 24)
    res = run_cli("verify", "--golden", golden_shapes_file, "--onnx", "x.onnx", "--shapes", SWEEP_TEST_SHAPES)
    assert_one_line_error(res, 2, "the golden file holds its own shapes")


@pytest.mark.slow
def test_onnx_runtime_runs_the_onnx_file_at_every_golden_shape(golden_shapes_photo_file, converted_dir, tmp_path):
    pytest.importorskip("onnxruntime")
    onnx_file = converted_dir / "onnx" / "ssh-mxnet.onnx"
    res = run_cli("verify", "--golden", golden_shapes_photo_file, "--onnx", onnx_file, "--runtime", "onnxruntime",
                  "--json-file", tmp_path / "r.json", "--html", tmp_path / "r.html")  # fmt: skip
    assert res.code == 0, res.out + res.err
    (check,) = json.loads((tmp_path / "r.json").read_text())["checks"]
    assert check["runtime"] == "onnxruntime" and set(check["shapes"]) == {"1x3x481x777", "2x3x640x640"}
    assert all(v["passed"] for v in check["shapes"].values())
    page = (tmp_path / "r.html").read_text()
    assert "at 2 input shapes (1x3x481x777, 2x3x640x640)" in page and "rpn_bbox_pred_stride8 @ 2x3x640x640" in page


@pytest.mark.neutral
@pytest.mark.slow
def test_every_ir_reshapes_and_passes_the_golden_shapes_and_a_broken_one_fails_at_each(
    golden_shapes_photo_file, converted_dir, tmp_path
):  # fmt: skip
    res = run_cli(
        "verify", "--golden", golden_shapes_photo_file, "--artifacts", converted_dir, "--json-file", tmp_path / "r.json"
    )
    assert res.code == 0, res.out + res.err
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {c["label"] for c in doc["checks"]} >= {"ir/mo/FP32", "ir/onnx/FP16", "onnx"}
    # The same IR with one layer's weights scaled: wrong at every shape, and the text says where.
    from ..conftest import break_ir_weights

    broken = break_ir_weights(converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml", tmp_path / "broken", "conv4_2_weight", 1.02)
    res = run_cli("verify", "--golden", golden_shapes_photo_file, "--ir", broken, "--json-file", tmp_path / "b.json")
    assert res.code == 1
    (check,) = json.loads((tmp_path / "b.json").read_text())["checks"]
    assert not any(v["passed"] for v in check["shapes"].values())
    assert "failed at 1x3x481x777, 2x3x640x640" in res.out
