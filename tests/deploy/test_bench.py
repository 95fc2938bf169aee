"""`sshconv bench`: a short real run of the full-size IR, its JSON schema, and its usage errors."""

from __future__ import annotations

import json

import pytest

from sshconv.deploy.bench import MIN_REPEATS, matmul_peak, plan_bench
from sshconv.model.network import CARD_GFLOPS

from ..conftest import assert_one_line_error, run_cli

CASE_KEYS = {
    "name", "runtime", "model", "weights", "execution", "effective_execution", "times_s", "load_s",
    "speedup_vs_mxnet", "median_s", "spread_s", "min_s", "max_s", "repeats", "fps", "gflops_per_s",
    "mode", "frames", "elapsed_s", "streams", "requests",
}  # fmt: skip


@pytest.mark.slow
def test_bench_json_schema_on_a_short_run(converted_dir):
    # The FP16 IR: one engine (bf16 execution is planned for FP32 IRs only), so the run stays short;
    # the demo's test times MXNet and the FP32 IR with both executions.
    xml = converted_dir / "ir" / "mo" / "FP16" / "ssh-mxnet.xml"
    res = run_cli("bench", "--ir", xml, "--seconds", "0.1", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert set(doc) == {"input_shape", "gflop_per_frame", "seconds_per_case", "matmul_peak", "cases", "engine_config", "mode"}
    assert set(doc["engine_config"]) == {"mxnet", "openvino", "cores", "cpu_flags"}
    assert doc["mode"] == "latency"
    assert doc["input_shape"] == [1, 3, 640, 640] and doc["gflop_per_frame"] == CARD_GFLOPS
    peak = doc["matmul_peak"]
    assert peak["gflops_per_s"] > 1 and peak["cores"] >= 1 and peak["size"] > 0
    assert [c["name"] for c in doc["cases"]] == ["ir"]
    for case in doc["cases"]:
        assert set(case) == CASE_KEYS
        assert case["runtime"] == "openvino" and case["weights"] == "FP16" and case["model"] == str(xml)
        assert case["execution"] == "f32"
        assert case["repeats"] == len(case["times_s"]) >= MIN_REPEATS
        assert 0.05 < case["min_s"] <= case["median_s"] <= case["max_s"] < 120
        assert case["fps"] == pytest.approx(1 / case["median_s"])
        assert case["gflops_per_s"] == pytest.approx(CARD_GFLOPS / case["median_s"])
        assert case["speedup_vs_mxnet"] is None  # MXNet was not timed
    assert doc["cases"][0]["effective_execution"] == "f32"


def test_artifacts_plan_every_ir_and_mxnet_from_the_manifest(converted_dir, synth_dir):
    engines = plan_bench(artifacts=converted_dir)
    assert [(e.route, e.weights, e.execution) for e in engines[1:]] == [
        ("mo", "FP16", "f32"), ("mo", "FP32", "f32"), ("mo", "FP32", "bf16"),
        ("onnx", "FP16", "f32"), ("onnx", "FP32", "f32"), ("onnx", "FP32", "bf16"),
    ]  # fmt: skip
    # The labels every command uses (verify's, eval's): the artifact, then the execution where it is not f32.
    assert [e.label for e in engines] == [
        "mxnet", "ir/mo/FP16", "ir/mo/FP32", "ir/mo/FP32 bf16", "ir/onnx/FP16", "ir/onnx/FP32", "ir/onnx/FP32 bf16",
    ]  # fmt: skip
    assert engines[0].path == synth_dir
    assert "mxnet" not in [e.label for e in plan_bench(artifacts=converted_dir, mxnet=False)]
    fp16 = converted_dir / "ir" / "onnx" / "FP16" / "ssh-mxnet.xml"
    assert [e.weights for e in plan_bench(ir=fp16)] == ["FP16"]


def test_matmul_peak_is_measured():
    peak = matmul_peak(seconds=0.05, size=256)
    assert peak.gflops_per_s > 0.1 and peak.size == 256 and peak.cores >= 1


def test_usage_errors(tmp_path):
    assert_one_line_error(run_cli("bench"), 2, "--ir")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("bench", "--artifacts", empty), 2, str(empty), "no manifest.json")
    (empty / "manifest.json").write_text('{"artifacts": []}')
    assert_one_line_error(run_cli("bench", "--artifacts", empty), 2, str(empty), "no IR")
    assert_one_line_error(run_cli("bench", "--ir", tmp_path / "nope.xml"), 2, "nope.xml")
    assert_one_line_error(run_cli("bench", "--ir", tmp_path / "nope.xml", "--seconds", "0"), 2, "--seconds")
