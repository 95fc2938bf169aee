"""ONNX Runtime as a second runtime for the ONNX artifact: verify and bench with --runtime onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sshconv.errors import ModelFileError
from sshconv.runtimes import OnnxRuntimeRunner, OpenVINORunner

from ..conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.quick

pytest.importorskip("onnxruntime", reason="the onnxruntime extra is not installed (pip install 'sshconv[onnxruntime]')")


def test_onnx_runtime_matches_openvino_on_the_onnx_file(converted_dir):
    onnx = converted_dir / "onnx" / "ssh-mxnet.onnx"
    x = np.random.default_rng(3).integers(0, 256, (1, 3, 640, 640)).astype(np.float32)
    with OnnxRuntimeRunner(onnx) as ort_runner:
        got = ort_runner.infer(x)
        assert ort_runner.execution_used == "f32"
    with OpenVINORunner(onnx) as ov_runner:
        ref = ov_runner.infer(x)
    assert list(got) == list(ref)
    for name in ref:
        assert got[name].shape == ref[name].shape and np.abs(got[name] - ref[name]).max() < 1e-4, name


def test_verify_under_onnx_runtime(converted_dir, golden_few_file, tmp_path):
    onnx = converted_dir / "onnx" / "ssh-mxnet.onnx"
    report = tmp_path / "r.json"
    ok = run_cli("verify", "--golden", golden_few_file, "--onnx", onnx, "--runtime", "onnxruntime", "--json-file", report)
    assert ok.code == 0 and "(FP32 tolerances, onnxruntime, ran f32)" in ok.out, ok.out + ok.err
    check = json.loads(report.read_text())["checks"][0]
    assert check["runtime"] == "onnxruntime" and check["passed"]
    # The same path fails when the outputs differ beyond tolerance (zero tolerance on box deltas).
    strict = run_cli("verify", "--golden", golden_few_file, "--onnx", onnx, "--runtime", "onnxruntime", "--atol", "bbox_pred=0")
    assert strict.code == 1 and "verdict: FAIL" in strict.out
    ir = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    assert_one_line_error(
        run_cli("verify", "--golden", golden_few_file, "--ir", ir, "--runtime", "onnxruntime"), 2, "ONNX Runtime runs ONNX files"
    )
    with pytest.raises(ModelFileError, match="ONNX Runtime runs .onnx files"):
        with OnnxRuntimeRunner(ir):
            pass


def test_bench_the_onnx_file_under_onnx_runtime(converted_dir):
    res = run_cli(
        "bench", "--onnx", converted_dir / "onnx" / "ssh-mxnet.onnx", "--runtime", "onnxruntime", "--seconds", "0.01", "--json"
    )
    assert res.code == 0, res.err
    cases = json.loads(res.out)["cases"]
    assert [(c["name"], c["runtime"]) for c in cases] == [("onnx onnxruntime", "onnxruntime")]
    assert len(cases[0]["times_s"]) >= 3
