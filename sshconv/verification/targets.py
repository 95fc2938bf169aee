"""What verify checks: one IR, one ONNX file, or every model of a conversion folder (checked by hash)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelFileError, UsageError, param
from ..fsutil import sha256_file
from ..model.spec import QUANTIZED, ModelSpec


@dataclass(frozen=True)
class Target:
    """A model to check: how reports name it, its file, how it stores its weights, and its route."""

    label: str  # "ir", "onnx", or for a conversion folder "ir/mo/FP32", "ir/onnx/FP16", "onnx"
    path: Path
    weights: str  # FP32 / FP16 picks the tolerance set; INT8: judged by its faces
    route: str | None = None  # set for a conversion folder's IRs: same-weights IRs of two routes are compared too


@dataclass
class Targets:
    targets: list[Target]
    hashes: dict[str, str]  # files that vouch for the targets (the manifest)
    converted_from: dict[str, str]  # checkpoint file -> sha256, from the manifest


def find_targets(ir: str | Path | None = None, onnx: str | Path | None = None, artifacts: str | Path | None = None) -> Targets:
    """The targets of exactly one of ``ir``, ``onnx``, ``artifacts``; a conversion folder is checked against its manifest.

    A missing or changed artifact is an :class:`~sshconv.errors.IntegrityError` (exit 4).
    """
    from ..runtimes.openvino import check_model_file, ir_weights

    given = [t for t in (ir, onnx, artifacts) if t is not None]
    if len(given) > 1:
        raise UsageError(f"verify: pass only one of {param('ir')}, {param('onnx')}, {param('artifacts')}")
    if ir is not None:
        return Targets([Target("ir", check_model_file(ir), ir_weights(ir))], {}, {})
    if onnx is not None:
        return Targets([Target("onnx", check_model_file(onnx), "FP32")], {}, {})
    if artifacts is None:
        return Targets([], {}, {})
    from ..conversion.manifest import read_manifest

    manifest = read_manifest(artifacts)
    manifest.check()
    found = [Target(a.label, manifest.file(a), a.weights, a.route if a.kind == "ir-xml" else None) for a in manifest.models()]
    if not found:
        raise ModelFileError(f"{manifest.path}: lists no IR or ONNX model; run `sshconv convert` into {manifest.folder}")
    return Targets(found, {manifest.path.name: sha256_file(manifest.path)}, manifest.source_hashes())


def read_model(path: Path, spec: ModelSpec):
    """The model at ``path`` as an ``ov.Model``, checked against model.yml's contract."""
    import openvino as ov

    from ..runtimes.openvino import check_model_contract, read_openvino_model

    return check_model_contract(read_openvino_model(ov.Core(), path), str(path), spec, spec.input.shape)


def model_hashes(path: str | Path) -> dict[str, str]:
    """sha256 of a model file and, for an IR, of its ``.bin``."""
    path = Path(path)
    files = [path] + ([path.with_suffix(".bin")] if path.suffix.lower() == ".xml" else [])
    return {p.name: sha256_file(p) for p in files if p.is_file()}


def route_pairs(targets: list[Target]) -> list[tuple[Target, Target]]:
    """Same-weights IRs of different routes, as ``(reference, candidate)`` pairs, in a fixed order."""
    by_weights: dict[str, list[Target]] = {}
    for t in targets:
        if t.route is not None and t.weights not in QUANTIZED:  # two quantizations are each judged against the reference
            by_weights.setdefault(t.weights, []).append(t)
    return [(a, b) for _, group in sorted(by_weights.items()) for a, b in zip(group, group[1:])]
