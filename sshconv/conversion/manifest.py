"""The artifact manifest: what a conversion made, typed, written and read here only.

A conversion folder ``O`` holds::

    O/ir/<route>/<weights>/ssh-mxnet.{xml,bin}     (route: mo, onnx; weights: FP32, FP16; INT8 by quantize)
    O/onnx/ssh-mxnet.onnx
    O/manifest.json

``manifest.json`` lists every artifact (``path`` relative to ``O``, ``kind``, ``route``,
``weights``, ``size``, ``sha256``), the input contract, the outputs, the checkpoint it came
from, tool versions and timings. Every stage that reads a conversion (verify, bench, the
demo) goes through :func:`read_manifest`; nothing else spells the file names.

``quantization`` records, per INT8 IR that ``sshconv quantize`` added, the FP32 IR it came
from, the calibration inputs (with hashes), NNCF's settings and versions.

"weights" is how an IR stores its weights (FP32, FP16-compressed, or INT8: quantized). It is not the
tolerance set a check uses, nor the precision a runtime executes in.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IntegrityError, ModelFileError
from ..fsutil import atomic_write_text, read_json_file, sha256_file
from ..model.shapes import MIN_SIDE
from ..model.spec import ModelSpec

ARTIFACT_NAME = "ssh-mxnet"
MANIFEST_NAME = "manifest.json"
#: Format 2 renamed format 1's ``precision`` to ``weights``; both are read.
MANIFEST_FORMAT = "sshconv-convert-manifest/2"
INPUT_LAYOUT = "NCHW"
INPUT_CHANNEL_ORDER = "BGR"
INPUT_VALUE_RANGE = (0, 255)
KINDS = ("ir-xml", "ir-bin", "onnx", "faces-ir-xml", "faces-ir-bin", "faces-onnx")
#: A faces artifact's file name: the raw one's with this suffix (``ssh-mxnet-faces.xml``).
FACES_SUFFIX = "-faces"
#: The ONNX file's input dimensions: batch, height and width are named dynamic axes (any frame, any batch).
ONNX_INPUT_DIMS = ("batch", 3, "height", "width")
#: What every artifact takes besides the default shape, in words (the manifest's ``input.shapes``).
SHAPES_TEXT = (
    "any batch N and any H x W of at least {min_side} pixels (N x 3 x H x W): the IRs are stored at the default shape "
    "and reshape in OpenVINO (model.reshape), the ONNX file declares batch, height and width as dynamic axes"
)

#: Fields of the manifest that differ between two conversions of the same checkpoint, and why.
VARYING_FIELDS = {
    "timings": "wall-clock seconds of this run; they depend on the machine and its load",
    "source.folder": "the checkpoint folder of this run (absolute path)",
    "output_dir": "the output folder of this run (absolute path)",
}


def ir_path(folder: str | Path, route: str, weights: str) -> Path:
    """Where the IR ``.xml`` of one route and weight precision goes (its ``.bin`` beside it)."""
    return Path(folder) / "ir" / route / weights / f"{ARTIFACT_NAME}.xml"


def onnx_path(folder: str | Path) -> Path:
    return Path(folder) / "onnx" / f"{ARTIFACT_NAME}.onnx"


def faces_path(folder: str | Path, raw: Artifact) -> Path:
    """Where the faces artifact of the raw model ``raw`` goes: beside it, ``ssh-mxnet-faces``."""
    path = Path(folder) / raw.path
    return path.with_name(f"{ARTIFACT_NAME}{FACES_SUFFIX}{path.suffix}")


def preprocessing_text(spec: ModelSpec) -> str:
    """The baked-in preprocessing in words."""
    steps = []
    if spec.input.reverse_input_channels:
        steps.append("reverse channels BGR -> RGB")
    if spec.input.mean_values:
        steps.append(f"subtract mean {list(spec.input.mean_values)}")
    return "; ".join(steps) or "none"


def input_contract(spec: ModelSpec, shape) -> dict[str, Any]:
    """What every artifact's input takes, for the manifest."""
    return {
        "name": spec.input.name,
        "shape": list(shape),
        "layout": INPUT_LAYOUT,
        "channel_order": INPUT_CHANNEL_ORDER,
        "value_range": list(INPUT_VALUE_RANGE),
        "element_type": "f32",
        "mean_values": list(spec.input.mean_values),
        "mean_values_order": "RGB" if spec.input.reverse_input_channels else INPUT_CHANNEL_ORDER,
        "reverse_input_channels": spec.input.reverse_input_channels,
        "preprocessing": preprocessing_text(spec),
        "shapes": SHAPES_TEXT.format(min_side=MIN_SIDE),
    }


@dataclass(frozen=True)
class Artifact:
    """One file a conversion wrote."""

    path: str  # relative to the conversion folder, POSIX
    kind: str  # ir-xml, ir-bin, onnx
    route: str  # mo, onnx
    weights: str  # FP32, FP16, INT8
    size: int
    sha256: str
    input_shape: tuple = ()  # a model's declared input: its default shape (IRs), or named dynamic axes (ONNX)

    @property
    def is_model(self) -> bool:
        """An IR ``.xml`` or the ONNX file: something a runtime loads."""
        return self.kind in ("ir-xml", "onnx")

    @property
    def is_faces_model(self) -> bool:
        """A faces IR ``.xml`` or ONNX file (frame in, faces out)."""
        return self.kind in ("faces-ir-xml", "faces-onnx")

    @property
    def label(self) -> str:
        """How reports name it: ``ir/mo/FP32``, ``ir/onnx/FP16``, ``onnx``; a faces artifact ``faces/`` and its raw one's."""
        raw = self.kind.removeprefix("faces-")
        label = f"ir/{self.route}/{self.weights}" if raw == "ir-xml" else raw
        return f"faces/{label}" if raw != self.kind else label

    def to_dict(self) -> dict[str, Any]:
        d = {"path": self.path, "kind": self.kind, "route": self.route, "weights": self.weights,
             "size": self.size, "sha256": self.sha256}  # fmt: skip
        if self.input_shape:
            d["input_shape"] = list(self.input_shape)
        return d

    @classmethod
    def of_file(cls, folder: Path, path: Path, kind: str, route: str, weights: str, input_shape=()) -> Artifact:
        rel = path.relative_to(folder).as_posix()
        return cls(rel, kind, route, weights, path.stat().st_size, sha256_file(path), tuple(input_shape))


@dataclass
class Manifest:
    """A conversion folder's manifest; :attr:`folder` is where it lives (not stored)."""

    folder: Path
    artifacts: list[Artifact]
    routes: list[str] = field(default_factory=list)
    weights: list[str] = field(default_factory=list)
    input: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    source: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    model_yml: str = ""
    quantization: dict[str, Any] = field(default_factory=dict)  # INT8 label -> what `sshconv quantize` did
    faces: dict[str, Any] = field(default_factory=dict)  # what the faces artifacts bake in, and what each wraps

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def file(self, artifact: Artifact) -> Path:
        return self.folder / artifact.path

    def models(self) -> list[Artifact]:
        """Every IR ``.xml`` and ONNX file, in the manifest's order."""
        return [a for a in self.artifacts if a.is_model]

    def faces_models(self) -> list[Artifact]:
        """Every faces IR ``.xml`` and faces ONNX file."""
        return [a for a in self.artifacts if a.is_faces_model]

    def irs(self, routes=None) -> list[Artifact]:
        """The IR ``.xml`` artifacts (of ``routes``, if given), sorted by route and weights."""
        found = [a for a in self.artifacts if a.kind == "ir-xml" and (routes is None or a.route in routes)]
        return sorted(found, key=lambda a: (a.route, a.weights))

    def source_hashes(self) -> dict[str, str]:
        """``{checkpoint file name: sha256}`` of the checkpoint this was converted from."""
        files = self.source.get("files") or {}
        return {n: str(v.get("sha256")) for n, v in files.items() if isinstance(v, dict)}

    @property
    def checkpoint_folder(self) -> Path | None:
        folder = self.source.get("folder")
        return Path(folder) if isinstance(folder, str) and folder else None

    def check(self) -> None:
        """Every artifact is in the folder with its recorded sha256, else :class:`IntegrityError` (exit 4)."""
        for a in self.artifacts:
            p = self.file(a)
            if not p.is_file():
                raise IntegrityError(f"{self.path}: lists {a.path}, which is missing; convert again")
            got = sha256_file(p)
            if got != a.sha256.lower():
                raise IntegrityError(
                    f"{p}: sha256 {got} does not match the manifest's {a.sha256}; the file changed since conversion, convert again"
                )

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "model": ARTIFACT_NAME,
            "model_yml": self.model_yml,
            "output_dir": str(self.folder.absolute()),
            "routes": list(self.routes),
            "weights": list(self.weights),
            "input": self.input,
            "outputs": self.outputs,
            "source": self.source,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "weights_meaning": {
                "FP32": "weights stored as FP32",
                "FP16": "weights compressed to FP16 (compress_to_fp16)",
                "INT8": "weights and activations quantized to 8 bits by NNCF (sshconv quantize)",
            },
            "quantization": self.quantization,
            "faces": self.faces,
            "tools": self.tools,
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "reproducibility": {
                "artifacts": "byte-identical when the same checkpoint is converted with the same options and tool versions",
                "varying_fields": dict(VARYING_FIELDS),
            },
        }

    def write(self) -> Path:
        """Write ``manifest.json`` atomically (the last file a conversion writes)."""
        return atomic_write_text(self.path, json.dumps(self.to_dict(), indent=2) + "\n")


def remove_manifest(folder: str | Path) -> None:
    """Delete a folder's manifest, so that the folder reads as incomplete until a new one is written."""
    with contextlib.suppress(FileNotFoundError):
        (Path(folder) / MANIFEST_NAME).unlink()


def read_manifest(folder: str | Path) -> Manifest:
    """The manifest of a conversion folder, checked for shape (not yet for hashes: :meth:`Manifest.check`).

    Raises :class:`ModelFileError` (exit 2) for a folder that is not a conversion (no manifest),
    and :class:`IntegrityError` (exit 4) for a manifest that is there but damaged or not one of
    ours, artifact paths that leave the folder included: damage is an integrity failure.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"artifacts folder {folder}: not a folder; pass the output folder of `sshconv convert`")
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ModelFileError(f"artifacts folder {folder}: no {MANIFEST_NAME}; run `sshconv convert` into {folder} first")
    try:
        doc = read_json_file(path)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        artifacts = [_artifact(e) for e in doc["artifacts"]]
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(
            f"{path}: damaged, or not a `sshconv convert` manifest ({exc.__class__.__name__}: {exc}); convert again"
        ) from None
    for a in artifacts:
        rel = Path(a.path)
        if rel.is_absolute() or ".." in rel.parts:
            raise IntegrityError(f"{path}: artifact path {a.path!r} leaves the folder; convert again")

    def part(key: str, kind: type, default):
        value = doc.get(key, default)
        return value if isinstance(value, kind) else default

    return Manifest(
        folder=folder,
        artifacts=artifacts,
        routes=part("routes", list, []),
        weights=part("weights", list, part("precisions", list, [])),
        input=part("input", dict, {}),
        outputs=part("outputs", list, []),
        source=part("source", dict, {}),
        tools=part("tools", dict, {}),
        timings=part("timings", dict, {}),
        model_yml=part("model_yml", str, ""),
        quantization=part("quantization", dict, {}),
        faces=part("faces", dict, {}),
    )


def _artifact(entry: Any) -> Artifact:
    if not isinstance(entry, dict):
        raise ValueError("an artifact is not an object")
    path, sha = entry["path"], entry["sha256"]
    if not isinstance(path, str) or not isinstance(sha, str):
        raise ValueError("artifact path and sha256 must be strings")
    kind = str(entry.get("kind") or ("onnx" if path.endswith(".onnx") else "ir-xml" if path.endswith(".xml") else "ir-bin"))
    weights = str(entry.get("weights") or entry.get("precision") or "FP32").upper()
    size = entry.get("size", -1)
    shape = entry.get("input_shape", [])
    shape = tuple(d for d in shape if isinstance(d, (int, str))) if isinstance(shape, list) else ()
    return Artifact(path, kind, str(entry.get("route") or ""), weights, size if isinstance(size, int) else -1, sha, shape)
