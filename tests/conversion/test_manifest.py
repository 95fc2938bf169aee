"""The artifact manifest: typed, written and read in one module; hashes checked; older manifests still read."""

from __future__ import annotations

import json

import pytest

from sshconv.conversion.manifest import MANIFEST_NAME, Artifact, Manifest, ir_path, onnx_path, read_manifest
from sshconv.errors import IntegrityError, ModelFileError

pytestmark = pytest.mark.quick


def _folder(tmp_path):
    out = tmp_path / "conv"
    files = {}
    for route in ("mo", "onnx"):
        for weights in ("FP32", "FP16"):
            xml = ir_path(out, route, weights)
            xml.parent.mkdir(parents=True)
            xml.write_text(f"<net {route} {weights}/>")
            xml.with_suffix(".bin").write_bytes(route.encode() + weights.encode())
            files[xml] = ("ir-xml", route, weights)
            files[xml.with_suffix(".bin")] = ("ir-bin", route, weights)
    onnx = onnx_path(out)
    onnx.parent.mkdir(parents=True)
    onnx.write_bytes(b"onnx")
    files[onnx] = ("onnx", "onnx", "FP32")
    artifacts = [Artifact.of_file(out, p, *how) for p, how in files.items()]
    source = {"folder": str(tmp_path / "ckpt"), "files": {"sshb-0000.params": {"sha256": "ab" * 32, "size": 1}}}
    return Manifest(out, artifacts, ["mo", "onnx"], ["FP32", "FP16"], source=source)


def test_written_then_read_back_typed(tmp_path):
    written = _folder(tmp_path)
    written.write()
    got = read_manifest(written.folder)
    assert got.artifacts == written.artifacts and (got.routes, got.weights) == (["mo", "onnx"], ["FP32", "FP16"])
    assert [a.label for a in got.models()] == ["ir/mo/FP32", "ir/mo/FP16", "ir/onnx/FP32", "ir/onnx/FP16", "onnx"]
    assert [(a.route, a.weights) for a in got.irs(routes=["onnx"])] == [("onnx", "FP16"), ("onnx", "FP32")]
    assert got.source_hashes() == {"sshb-0000.params": "ab" * 32} and got.checkpoint_folder == tmp_path / "ckpt"
    got.check()
    doc = json.loads((written.folder / MANIFEST_NAME).read_text())
    assert doc["artifacts"][0] == {"path": "ir/mo/FP32/ssh-mxnet.xml", "kind": "ir-xml", "route": "mo", "weights": "FP32",
                                   "size": got.artifacts[0].size, "sha256": got.artifacts[0].sha256}  # fmt: skip


def test_a_changed_or_missing_artifact_is_an_integrity_failure(tmp_path):
    m = _folder(tmp_path)
    m.write()
    bin_ = ir_path(m.folder, "onnx", "FP16").with_suffix(".bin")
    bin_.write_bytes(b"changed")
    with pytest.raises(IntegrityError, match="does not match the manifest"):
        read_manifest(m.folder).check()
    bin_.unlink()
    with pytest.raises(IntegrityError, match="which is missing"):
        read_manifest(m.folder).check()


def test_format_1_precision_is_read_as_weights(tmp_path):
    m = _folder(tmp_path)
    doc = m.to_dict()
    doc["format"], doc["precisions"] = "sshconv-convert-manifest/1", doc.pop("weights")
    for a in doc["artifacts"]:
        a["precision"] = a.pop("weights")
    (m.folder / MANIFEST_NAME).write_text(json.dumps(doc))
    got = read_manifest(m.folder)
    assert got.artifacts == m.artifacts and got.weights == ["FP32", "FP16"]


@pytest.mark.parametrize(
    "doc, fragment",
    [
        ("not json", "not a `sshconv convert` manifest"),
        ('{"artifacts": [{"path": "../x.xml", "sha256": "00"}]}', "leaves the folder"),
        ('{"artifacts": [{"path": "/etc/passwd", "sha256": "00"}]}', "leaves the folder"),
        ('{"artifacts": [{"sha256": "00"}]}', "not a `sshconv convert` manifest"),
        ("[]", "not a `sshconv convert` manifest"),
    ],
)
def test_damaged_or_foreign_manifests_are_integrity_failures(tmp_path, doc, fragment):
    (tmp_path / MANIFEST_NAME).write_text(doc)
    with pytest.raises(IntegrityError, match=fragment):
        read_manifest(tmp_path)
    with pytest.raises(ModelFileError, match="no manifest.json"):
        read_manifest(tmp_path / "nothing").check() if (tmp_path / "nothing").mkdir() is None else None
