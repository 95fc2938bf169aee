"""Golden files: the inputs and the reference's outputs, stored so that verify can run without MXNet.

A golden file is an ``.npz`` whose ``meta`` entry records, besides seed, checkpoint hashes
and versions, the sha256 of every array. Those hashes catch damage (a truncated copy, a
flipped bit, a lost array); they live in the same file, so they cannot prove that nobody
edited it on purpose: keep golden files where you keep the artifacts they vouch for.
"""

from __future__ import annotations

import hashlib
import io
import json
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, IntegrityError, param
from ..fsutil import atomic_path, parse_json
from .results import Sample

GOLDEN_FORMAT = 1


def save_golden(path: str | Path, samples: Sequence[Sample], refs: Sequence[Mapping[str, np.ndarray]], meta: dict) -> Path:
    """Write inputs and reference outputs (npz) with the sha256 of every array in its metadata."""
    arrays: dict[str, np.ndarray] = {}
    hashes = {}
    for s, r in zip(samples, refs):
        arrays[f"input_{s.index}"] = np.ascontiguousarray(s.tensor, np.float32)
        for name, v in r.items():
            arrays[f"output_{s.index}_{name}"] = np.ascontiguousarray(v, np.float32)
    for key, v in arrays.items():
        hashes[key] = _array_sha256(v)
    meta = {**meta, "format": GOLDEN_FORMAT, "samples": [s.to_dict() for s in samples],
            "outputs": list(refs[0]), "array_sha256": hashes}  # fmt: skip
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = Path(path)
    buffer = io.BytesIO()  # compressed in memory, then written: a failed write leaves no half-closed zip behind
    np.savez_compressed(buffer, **arrays)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getbuffer())
    return path


def load_golden(path: str | Path) -> tuple[list[Sample], list[dict[str, np.ndarray]], dict]:
    """Read a golden file back; its arrays are checked against their stored sha256."""
    import zipfile

    from ..fsutil import file_kind

    path = Path(path)
    kind = file_kind(path)
    if kind == "missing":
        raise InputError(f"golden file {path}: no such file; write one with {param('save_golden_to')} {path}")
    if kind != "file":  # a pipe or a device would be waited on, or read for ever
        raise InputError(f"golden file {path}: a {kind}, not a regular file; pass the .npz file "
                         f"{param('save_golden_to')} wrote")  # fmt: skip
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = parse_json(bytes(data.pop("meta")).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError, zlib.error) as exc:
        if _names_golden_arrays(path):  # a golden file that no longer reads: damage, not the wrong kind of file
            raise IntegrityError(
                f"golden file {path}: damaged ({exc.__class__.__name__}); the file is damaged, write it again with "
                f"{param('save_golden_to')}"
            ) from None
        raise InputError(
            f"golden file {path}: not a golden npz ({exc.__class__.__name__}); write it again with {param('save_golden_to')}"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != GOLDEN_FORMAT:
        raise InputError(
            f"golden file {path}: format {meta.get('format') if isinstance(meta, dict) else '?'}, expected {GOLDEN_FORMAT}"
        )
    for key, digest in meta["array_sha256"].items():
        if key not in data:
            raise IntegrityError(f"golden file {path}: array {key} is missing; the file is damaged, write it again")
        if _array_sha256(data[key]) != digest:
            raise IntegrityError(
                f"golden file {path}: array {key} does not match its sha256; the file is damaged, write it again"
            )
    samples, refs = [], []
    for sd in meta["samples"]:
        i = sd["index"]
        faces = tuple(tuple(float(v) for v in f) for f in sd.get("faces", ()))
        samples.append(Sample(i, sd["kind"], sd["label"], data[f"input_{i}"], tuple(sd["scale"]), sd.get("source", ""), faces))
        refs.append({name: data[f"output_{i}_{name}"] for name in meta["outputs"]})
    return samples, refs, meta


def _names_golden_arrays(path: Path) -> bool:
    """``path`` is a zip whose members are a golden file's (``input_*``, ``output_*``), whatever else broke in it
    (a flipped byte, a cut-off end): the zip's own local headers name them from the first bytes on."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return False
        data = path.read_bytes()
    except OSError:
        return False
    return b"input_0.npy" in data and b"output_" in data


def _array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()
