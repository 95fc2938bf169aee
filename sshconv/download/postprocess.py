"""After the files: model.yml's postprocessing steps, and the record of a finished run.

``OUT/.sshconv-download.json`` records what a finished run produced (each file's size
and sha256, and a key of the model.yml it followed); a re-run that finds every file
unchanged does nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import IntegrityError, OutputError
from ..events import Emitter
from ..fsutil import atomic_write_text, hash_file, no_space_left, read_json_file, resolve_inside
from ..model.spec import FileSpec, ModelSpec, RegexReplace, UnpackArchive
from .cache import file_matches
from .settings import MANIFEST


@dataclass(frozen=True)
class PostprocResult:
    kind: str
    file: str
    outputs: tuple[str, ...] = ()
    replacements: int = 0


def _spec_key(spec: ModelSpec) -> str:
    doc = {
        "files": [(f.name, f.size, f.sha256) for f in spec.files],
        "postprocessing": [asdict(p) | {"$type": type(p).__name__} for p in spec.postprocessing],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def read_download_record(output_dir: Path) -> dict:
    """What the last download into ``output_dir`` finished (the spec it ran and each output's size and sha256), or ``{}``.

    Not the conversion's manifest (:func:`sshconv.conversion.manifest.read_manifest`): this one records a download.
    """
    try:
        return read_json_file(output_dir / MANIFEST)
    except (OSError, ValueError):
        return {}


def download_record_ok(output_dir: Path, spec: ModelSpec, manifest: dict) -> bool:
    """True if a previous run finished this exact spec and every file it produced is unchanged."""
    if manifest.get("spec_key") != _spec_key(spec) or not isinstance(manifest.get("outputs"), dict):
        return False
    for rel, info in manifest["outputs"].items():
        path = output_dir / rel
        fake = FileSpec(name=rel, size=int(info.get("size", -1)), sha256=str(info.get("sha256", "")))
        if not file_matches(path, fake):
            return False
    return True


def write_download_record(output_dir: Path, spec: ModelSpec, outputs: Sequence[str]) -> None:
    entries = {}
    for rel in sorted(set(outputs)):
        path = output_dir / rel
        if path.is_file():
            h, n = hash_file(path)
            entries[rel] = {"size": n, "sha256": h.hexdigest()}
    doc = {"spec_key": _spec_key(spec), "model_yml": str(spec.path), "outputs": entries}
    atomic_write_text(output_dir / MANIFEST, json.dumps(doc, indent=2))


def run_postprocessing(spec: ModelSpec, output_dir: Path, emit: Emitter | None = None) -> list[PostprocResult]:
    """Apply model.yml's ``postprocessing`` steps in order, inside ``output_dir``.

    A rejected archive is deleted from ``output_dir`` (the cache keeps its verified copy) and
    raises :class:`IntegrityError`; nothing extracted from it is left behind.
    """
    from .archive import regex_replace, unpack_archive

    results = []
    for i, step in enumerate(spec.postprocessing):
        where = f"{spec.path.name}: postprocessing[{i}]"
        if resolve_inside(output_dir / step.file, output_dir) is None:
            raise OutputError(f"{where}: {output_dir / step.file} leads outside the output folder (a symbolic link?); refused")
        if isinstance(step, UnpackArchive):
            archive = output_dir / step.file
            try:
                with no_space_left(output_dir):
                    placed = unpack_archive(archive, step.format, output_dir)
            except IntegrityError:
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()
                raise
            outputs = tuple(str(p.relative_to(output_dir)) for p in placed)
            results.append(PostprocResult("unpack_archive", step.file, outputs))
        elif isinstance(step, RegexReplace):
            n = regex_replace(output_dir / step.file, step.pattern, step.replacement, step.count, where=where)
            results.append(PostprocResult("regex_replace", step.file, (step.file,), n))
        if emit is not None:
            emit("postprocess", item=step.file, **asdict(results[-1]))
    return results
