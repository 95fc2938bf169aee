"""The one plan of engines and the one runner factory: labels every command shares, what is refused, what opens."""

from __future__ import annotations

import json
import shutil

import pytest

from sshconv.engines import REFERENCE, engine_label, open_runner, plan_engines
from sshconv.engines.plan import check_copies, model_engine, with_execution
from sshconv.errors import IntegrityError, ModelFileError, UsageError
from sshconv.runtimes import MXNetRunner, OnnxRuntimeRunner, OpenVINORunner

pytestmark = pytest.mark.quick


def test_one_label_per_engine():
    assert engine_label("ir/mo/FP32") == "ir/mo/FP32"
    assert engine_label("ir/mo/FP32", "bf16") == "ir/mo/FP32 bf16"
    assert engine_label("onnx", runtime="onnxruntime") == "onnx onnxruntime"
    assert engine_label(REFERENCE, runtime="mxnet") == "mxnet"


def test_a_conversion_folder_plans_every_model_in_one_order_with_hashes(converted_dir):
    plan = plan_engines(artifacts=converted_dir, bf16=True)
    assert plan.reference is None
    assert [e.label for e in plan.engines] == [
        "ir/mo/FP16", "ir/mo/FP32", "ir/mo/FP32 bf16", "ir/onnx/FP16", "ir/onnx/FP32", "ir/onnx/FP32 bf16", "onnx",
        "onnx bf16",
    ]  # fmt: skip
    manifest = json.loads((converted_dir / "manifest.json").read_text())
    ir = plan.engines[1]
    assert ir.files["ssh-mxnet.xml"] == next(
        a["sha256"] for a in manifest["artifacts"] if a["path"] == "ir/mo/FP32/ssh-mxnet.xml"
    )
    assert set(plan.hashes) == {"manifest.json"} and plan.converted_from
    only = plan_engines(artifacts=converted_dir, routes=["onnx"], kinds=("ir",), runtime="onnxruntime")
    assert [e.label for e in only.engines] == ["ir/onnx/FP16", "ir/onnx/FP32"], "IRs run on OpenVINO whatever the runtime"


def test_what_the_plan_refuses(converted_dir, tmp_path):
    xml = converted_dir / "ir/mo/FP32/ssh-mxnet.xml"
    with pytest.raises(UsageError, match="not both"):
        plan_engines(artifacts=converted_dir, irs=[xml])
    with pytest.raises(UsageError, match="twice"):
        plan_engines(irs=[xml, xml])
    with pytest.raises(UsageError, match="runtime"):
        plan_engines(irs=[xml], runtime="tensorflow")
    with pytest.raises(ModelFileError, match="sshb-symbol.json"):
        plan_engines(input_dir=tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(converted_dir, copy)
    blob = bytearray((copy / "ir/mo/FP16/ssh-mxnet.bin").read_bytes())
    blob[100] ^= 1
    (copy / "ir/mo/FP16/ssh-mxnet.bin").write_bytes(bytes(blob))
    with pytest.raises(IntegrityError, match="ssh-mxnet.bin"):
        plan_engines(artifacts=copy)


def test_a_worker_checks_the_copies_it_received(converted_dir, tmp_path):
    engine = model_engine(converted_dir / "ir/mo/FP16/ssh-mxnet.xml", "ir")
    for name, path in engine.file_paths().items():
        shutil.copyfile(path, tmp_path / name)
    assert check_copies(engine, tmp_path).path == tmp_path / "ssh-mxnet.xml"
    (tmp_path / "ssh-mxnet.xml").write_text("<net/>")
    with pytest.raises(IntegrityError, match="worker's copy of ssh-mxnet.xml"):
        check_copies(engine, tmp_path)


def test_the_runner_factory_opens_each_kind(converted_dir, tmp_path):
    ir = with_execution(model_engine(converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "ir"), "bf16")
    runner = open_runner(ir, mode="throughput", threads=1)
    assert isinstance(runner, OpenVINORunner) and runner.execution == "bf16" and runner.performance_hint == "THROUGHPUT"
    onnx = model_engine(converted_dir / "onnx/ssh-mxnet.onnx", "onnx", runtime="onnxruntime")
    assert isinstance(open_runner(onnx), OnnxRuntimeRunner) and onnx.label == "onnx onnxruntime"
    (tmp_path / "sshb-symbol.json").write_text("{}")
    (tmp_path / "sshb-0000.params").write_bytes(b"")
    mx = plan_engines(input_dir=tmp_path).reference
    assert mx is not None and mx.label == REFERENCE and isinstance(open_runner(mx), MXNetRunner)
