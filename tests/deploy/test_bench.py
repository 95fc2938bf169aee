"""`sshconv bench`: a short real run of the full-size IR, its JSON schema, and its usage errors."""

from __future__ import annotations

import json

import pytest

from sshconv.deploy.bench import MIN_REPEATS, plan_bench
from sshconv.deploy.ceilings import CONV_SIDE, ceiling_key, measure_ceiling
from sshconv.fsutil import sha256_file

from ..conftest import assert_one_line_error, run_cli

CASE_KEYS = {
    "name", "runtime", "model", "weights", "execution", "effective_execution", "times_s", "load_s",
    "speedup_vs_mxnet", "median_s", "spread_s", "min_s", "max_s", "repeats", "fps", "gflops_per_s",
    "mode", "frames", "elapsed_s", "streams", "requests", "input_shape", "gflop_per_frame", "ceiling",
    "ceiling_gflops_per_s", "peak_rss_mb", "of_ceiling", "files",
}  # fmt: skip
#: GFLOP of one image, counted on the IR at each shape (the card counts 267.06 with more than the convolutions).
GFLOP_640, GFLOP_481x777 = 266.657792, 242.233534848


@pytest.mark.neutral
@pytest.mark.slow
def test_bench_json_schema_on_a_short_run(converted_dir):
    # The FP16 IR: one engine (bf16 execution is planned for FP32 IRs only), so the run stays short;
    # the demo's test times MXNet and the FP32 IR with both executions.
    xml = converted_dir / "ir" / "mo" / "FP16" / "ssh-mxnet.xml"
    res = run_cli("bench", "--ir", xml, "--seconds", "0.1", "--json", "--shapes", "1x640x640,2x481x777")
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert set(doc) == {"shapes", "gflop_per_frame", "seconds_per_case", "ceilings", "cases", "engine_config", "mode", "cpu",
                        "faces_overhead"}  # fmt: skip
    assert doc["faces_overhead"] == []  # only with --faces (tests/deploy/test_faces.py)
    assert set(doc["engine_config"]) == {"mxnet", "openvino", "cores", "cpu_flags"}
    assert doc["mode"] == "latency" and doc["cpu"]
    assert doc["shapes"] == [[1, 3, 640, 640], [2, 3, 481, 777]]
    assert doc["gflop_per_frame"] == pytest.approx({"1x3x640x640": GFLOP_640, "2x3x481x777": GFLOP_481x777})
    assert set(doc["ceilings"]) == {"f32", "bf16", "int8"}
    for key, peak in doc["ceilings"].items():
        assert peak["gflops_per_s"] > 1 and peak["cores"] >= 1 and peak["size"] > 0 and peak["precision"] == key
    assert [(c["name"], c["input_shape"]) for c in doc["cases"]] == [("ir", [1, 3, 640, 640]), ("ir", [2, 3, 481, 777])]
    for case in doc["cases"]:
        assert set(case) == CASE_KEYS
        assert case["runtime"] == "openvino" and case["weights"] == "FP16" and case["model"] == str(xml)
        assert case["execution"] == "f32"
        assert case["files"] == {p.name: sha256_file(p) for p in (xml, xml.with_suffix(".bin"))}  # what a bundle checks
        assert case["repeats"] == len(case["times_s"]) >= MIN_REPEATS
        assert 0.05 < case["min_s"] <= case["median_s"] <= case["max_s"] < 120
        batch = case["input_shape"][0]
        assert case["fps"] == pytest.approx(batch / case["median_s"])
        assert case["gflops_per_s"] == pytest.approx(case["gflop_per_frame"] * batch / case["median_s"])
        assert case["ceiling"] == "f32" and case["of_ceiling"] == pytest.approx(case["gflops_per_s"] / doc["ceilings"]["f32"]["gflops_per_s"])
        assert case["of_ceiling"] > 0 and case["peak_rss_mb"] > 100  # below 1 on an idle machine: a script's figure
        assert case["speedup_vs_mxnet"] is None  # MXNet was not timed
    assert doc["cases"][0]["effective_execution"] == "f32"


@pytest.mark.quick
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


@pytest.mark.quick
@pytest.mark.parametrize("precision", ["f32", "bf16", "int8"])
def test_each_precisions_ceiling_is_measured_with_openvino(precision):
    peak = measure_ceiling(precision, seconds=0.05, sizes=(256,))
    assert peak.gflops_per_s > 0.1 and peak.cores >= 1 and peak.precision == precision
    assert (peak.form, peak.size) in {("weights", 256), ("gemm", 256), ("conv", CONV_SIDE)}
    assert peak.execution_used in ({"f32"} if precision == "f32" else {"int8"} if precision == "int8" else {"bf16", "f32"})


@pytest.mark.quick
def test_each_engine_is_held_against_its_own_precisions_ceiling():
    assert ceiling_key("f32", "FP32") == "f32" and ceiling_key("f32", "FP16") == "f32"
    assert ceiling_key("bf16", "FP32") == "bf16" and ceiling_key("f32", "INT8") == "int8"
    assert ceiling_key("f32", None) == "f32"  # MXNet


@pytest.mark.quick
def test_a_shape_bench_cannot_run_is_one_line_exit_2(tmp_path):
    assert_one_line_error(run_cli("bench", "--ir", tmp_path / "m.xml", "--shapes", "1x16x640"), 2, "at least 32 pixels")


@pytest.mark.quick
def test_usage_errors(tmp_path):
    assert_one_line_error(run_cli("bench"), 2, "--ir")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_one_line_error(run_cli("bench", "--artifacts", empty), 2, str(empty), "no manifest.json")
    (empty / "manifest.json").write_text('{"artifacts": []}')
    assert_one_line_error(run_cli("bench", "--artifacts", empty), 2, str(empty), "no IR")
    assert_one_line_error(run_cli("bench", "--ir", tmp_path / "nope.xml"), 2, "nope.xml")
    assert_one_line_error(run_cli("bench", "--ir", tmp_path / "nope.xml", "--seconds", "0"), 2, "--seconds")
