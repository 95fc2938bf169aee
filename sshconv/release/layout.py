"""What a bundle holds and where, and its file listing (``BUNDLE.json``): every file's size and sha256.

A bundle folder::

    BUNDLE.json            this listing (every other file but the signature)
    MODEL_CARD.md          the model card (:mod:`.card`)
    model.yml              the model description the models were verified against
    artifacts/             the conversion folder as converted: manifest.json and every file it lists
    golden/<file>.npz      the reference outputs the models were verified against
    reports/verify.json    the verification that let them in; eval.json, bench.json when given
    models/                an OpenVINO Model Server model repository (:mod:`.ovms`)
    model.sig              the signature (``model_signing``), when signed

:func:`check_listing` is the first thing a receiving team runs: a file changed, added or removed, a
link, or a listed path that leaves the bundle is an :class:`IntegrityError` naming it.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError, IntegrityError, SshconvError, first_line
from ..fsutil import read_json_file, sha256_file
from .signing import SIGNATURE

LISTING = "BUNDLE.json"
LISTING_FORMAT = "sshconv-bundle/1"
CARD = "MODEL_CARD.md"
MODEL_YML = "model.yml"
ARTIFACTS = "artifacts"
GOLDEN = "golden"
VERIFY_REPORT = "reports/verify.json"
EVAL_REPORT = "reports/eval.json"
BENCH_REPORT = "reports/bench.json"
MODELS = "models"
#: Files that are not in the listing: the listing itself and the signature (which signs the listing too).
UNLISTED = (LISTING, SIGNATURE)


def read_json(path: Path, error: type[SshconvError] = IntegrityError, fix: str = "ask for the bundle again") -> dict[str, Any]:
    """A JSON object from a file; anything else is ``error`` saying ``fix``. A bundle's file was listed and hashed:
    damage there is an :class:`IntegrityError`; a report given to the builder is input (:class:`InputError`)."""
    try:
        doc = read_json_file(path)
    except (OSError, ValueError) as exc:
        raise error(f"{path}: unreadable or not JSON ({exc.__class__.__name__}: {first_line(exc)}); {fix}") from None
    if not isinstance(doc, dict):
        raise error(f"{path}: not a JSON object; {fix}")
    return doc


def bundle_files(folder: Path) -> list[str]:
    """Every file under ``folder`` as a POSIX path, sorted; a link or anything but files and folders is refused."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            raise IntegrityError(f"{folder}: {rel} is a symbolic link (it could point outside the bundle); remove it")
        if path.is_file():
            found.append(rel)
        elif not path.is_dir():
            raise IntegrityError(f"{folder}: {rel} is not a regular file; remove it")
    return found


def write_listing(folder: Path, built_from: dict[str, Any]) -> dict[str, Any]:
    """List every file of ``folder`` (size, sha256) in ``BUNDLE.json``; what it was built from, sorted keys."""
    files = {rel: {"size": (folder / rel).stat().st_size, "sha256": sha256_file(folder / rel)}
             for rel in bundle_files(folder) if rel not in UNLISTED}  # fmt: skip
    doc = {"format": LISTING_FORMAT, "files": files, "built_from": built_from}
    (folder / LISTING).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return doc


def check_listing(folder: Path) -> dict[str, Any]:
    """Every listed file present with its size and sha256, none added; else the first problem, by name (exit 4)."""
    if not folder.is_dir():
        what = "a file" if folder.is_file() else "no such folder"
        raise InputError(f"bundle {folder}: {what}; unpack the bundle (tar xzf B.tar.gz) and pass its folder")
    found = bundle_files(folder)  # a link or a special file anywhere is refused before anything is read through it
    doc = read_json(folder / LISTING) if LISTING in found else None
    if doc is None or doc.get("format") != LISTING_FORMAT or not isinstance(doc.get("files"), dict):
        raise IntegrityError(f"bundle {folder}: no {LISTING} of format {LISTING_FORMAT}; this is not an sshconv bundle")
    listed: dict[str, Any] = doc["files"]
    for rel in listed:
        p = PurePosixPath(rel)
        if p.is_absolute() or ".." in p.parts or rel in UNLISTED:
            raise IntegrityError(f"bundle {folder}: {LISTING} lists {rel!r}, a path that leaves the bundle; refuse it")
        if not rel or "\x00" in rel or "\\" in rel or p.as_posix() != rel or "." in p.parts:
            raise IntegrityError(f"bundle {folder}: {LISTING} lists {rel[:80]!r}, not a plain relative path; this "
                                 "listing was not written by sshconv, ask for the bundle again")  # fmt: skip
    present = [rel for rel in found if rel not in UNLISTED]
    for rel in present:
        if rel not in listed:
            raise IntegrityError(
                f"bundle {folder}: {rel} was added (it is not in {LISTING}); remove it or ask for the bundle again"
            )
    for rel, entry in listed.items():
        path = folder / rel
        if not path.is_file():
            raise IntegrityError(f"bundle {folder}: {rel} is missing (listed in {LISTING}); ask for the bundle again")
        if not isinstance(entry, dict) or path.stat().st_size != entry.get("size") or sha256_file(path) != entry.get("sha256"):
            raise IntegrityError(
                f"bundle {folder}: {rel} changed (its sha256 is not the one in {LISTING}); ask for the bundle again"
            )
    return doc
