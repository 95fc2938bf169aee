"""`convert --from-onnx`: the ONNX artifact to IR with the installed OpenVINO, no MXNet; the IR passes verify."""

from __future__ import annotations

import json

import pytest

from sshconv.versions import openvino_version

from ..conftest import assert_one_line_error, run_cli


@pytest.mark.neutral
def test_from_onnx_makes_ir_that_passes_against_the_golden_few_file(converted_dir, golden_few_file, tmp_path):
    out = tmp_path / "regenerated"
    res = run_cli("convert", "--from-onnx", converted_dir / "onnx" / "ssh-mxnet.onnx", "--output-dir", out, "--json")
    assert res.code == 0, res.err
    manifest = json.loads(res.out)
    assert manifest == json.loads((out / "manifest.json").read_text())
    assert manifest["routes"] == ["onnx"] and manifest["weights"] == ["FP32", "FP16"]
    assert sorted(a["path"] for a in manifest["artifacts"]) == sorted(
        f"ir/onnx/{w}/ssh-mxnet.{ext}" for w in ("FP32", "FP16") for ext in ("xml", "bin")
    )
    assert manifest["source"]["converter"] == f"openvino.convert_model {openvino_version()}"
    assert manifest["source"]["onnx"] == "ssh-mxnet.onnx"
    for weights in ("FP32", "FP16"):
        xml = out / "ir" / "onnx" / weights / "ssh-mxnet.xml"
        ok = run_cli("verify", "--golden", golden_few_file, "--ir", xml)
        assert ok.code == 0 and f"({weights} tolerances, ran f32)" in ok.out, ok.out + ok.err
    # And the folder reads as any conversion does: verify --artifacts checks every file by hash.
    assert run_cli("verify", "--golden", golden_few_file, "--artifacts", out).code == 0


def test_from_onnx_bad_input_is_exit_2_and_writes_nothing(converted_dir, tmp_path):
    out = tmp_path / "o"
    xml = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    onnx = converted_dir / "onnx" / "ssh-mxnet.onnx"
    assert_one_line_error(run_cli("convert", "--from-onnx", xml, "--output-dir", out), 2, "expected the .onnx file")
    assert_one_line_error(run_cli("convert", "--from-onnx", tmp_path / "no.onnx", "--output-dir", out), 2, "no such file")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07not a model")
    assert_one_line_error(run_cli("convert", "--from-onnx", garbage, "--output-dir", out), 2, "garbage.onnx")
    mixed = run_cli("convert", "--from-onnx", onnx, "--input-dir", tmp_path, "--output-dir", out)
    assert_one_line_error(mixed, 2, "--from-onnx takes the ONNX file's own input shape and route")
    assert not out.exists()
