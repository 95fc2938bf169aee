"""Fixtures of the bundle tests that need no model: a small bundle made by hand in the documented layout."""

from __future__ import annotations

import json
import shutil

import pytest

from sshconv.conversion.manifest import Artifact, Manifest, ir_path, onnx_path
from sshconv.release.layout import write_listing


def _sha(path):
    from sshconv.fsutil import sha256_file

    return sha256_file(path)


@pytest.fixture
def bundle(tmp_path):
    folder = tmp_path / "bundle"
    art = folder / "artifacts"
    files = {}
    for route in ("mo", "onnx"):
        xml = ir_path(art, route, "FP32")
        xml.parent.mkdir(parents=True)
        xml.write_text(f"<net {route}/>")
        xml.with_suffix(".bin").write_bytes(route.encode() * 100)
        files[xml], files[xml.with_suffix(".bin")] = ("ir-xml", route, "FP32"), ("ir-bin", route, "FP32")
    onnx_path(art).parent.mkdir()
    onnx_path(art).write_bytes(b"onnx")
    files[onnx_path(art)] = ("onnx", "onnx", "FP32")
    manifest = Manifest(art, [Artifact.of_file(art, p, *how) for p, how in files.items()], ["mo", "onnx"], ["FP32"])
    manifest.write()
    served = folder / "models" / "ssh-mxnet" / "1"  # the Model Server repository: the mo route's FP32 IR
    served.mkdir(parents=True)
    shutil.copyfile(ir_path(art, "mo", "FP32"), served / "model.xml")
    shutil.copyfile(ir_path(art, "mo", "FP32").with_suffix(".bin"), served / "model.bin")
    (served / "mapping_config.json").write_text("{}")
    config = {"model_config_list": [{"config": {"name": "ssh-mxnet", "base_path": "/models/ssh-mxnet"}}]}
    (folder / "models" / "config.json").write_text(json.dumps(config))
    (folder / "golden").mkdir()
    (folder / "golden" / "g.npz").write_bytes(b"golden")
    (folder / "reports").mkdir()
    (folder / "reports" / "verify.json").write_text("{}")
    (folder / "reports" / "eval.json").write_text('{"results": {}}')
    made = {"manifest_sha256": _sha(art / "manifest.json"), "golden": {"name": "g.npz", "sha256": _sha(folder / "golden" / "g.npz")},
            "reports": {"reports/eval.json": _sha(folder / "reports" / "eval.json")}}  # fmt: skip
    write_listing(folder, made)
    return folder
