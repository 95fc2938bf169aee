"""WIDER FACE submission files: ``<event>/<photo>.txt`` per engine, as the official tool and the leaderboard read them.

A file holds the photo's file name, the number of detections, then one ``x y w h score``
line each. The numbers are written as upstream's ``test_ssh.py`` writes them: the corner
and the size truncated to integers (``w = x2 - x1``, no +1), the score with ``%g`` (six
significant digits). The official evaluation reads exactly these numbers, so the WIDER APs
are computed from the lines (:func:`parse_lines`), not from the unrounded boxes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: A submission folder per engine; this file (in the submission root) maps engine labels to them.
INDEX_NAME = "SUBMISSIONS.json"


def submission_lines(dets: np.ndarray) -> str:
    """``(N, 5)`` ``[x1, y1, x2, y2, score]`` (photo pixels, sorted as wanted) as the file's detection lines."""
    out = []
    for x1, y1, x2, y2, score in np.asarray(dets, dtype=np.float32).reshape(-1, 5):
        out.append(f"{int(x1)} {int(y1)} {int(x2 - x1)} {int(y2 - y1)} {float(score):g}")
    return "\n".join(out)


def parse_lines(lines: str) -> np.ndarray:
    """The ``(N, 5)`` ``x y w h score`` of :func:`submission_lines`' text, as the official reader's ``str2num`` reads them."""
    rows = [[float(v) for v in line.split()[:5]] for line in lines.splitlines() if line.strip()]
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def file_text(photo_path: str, lines: str) -> str:
    """One photo's submission file: its file name, the count, the lines."""
    count = len([ln for ln in lines.splitlines() if ln.strip()])
    name = photo_path.replace("\\", "/").split("/")[-1]
    return f"{name}\n{count}\n" + (lines + "\n" if count else "")


def folder_name(label: str) -> str:
    """An engine label as a folder name (``ir/mo/FP32`` -> ``ir_mo_FP32``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("._") or "engine"


def _folder_names(labels: Iterable[str]) -> dict[str, str]:
    """Each engine label's folder name, made unique (``-2``, ``-3``, ... for labels that read the same)."""
    names: dict[str, str] = {}
    for label in labels:
        name, n = folder_name(label), 2
        while name in names.values():
            name, n = f"{folder_name(label)}-{n}", n + 1
        names[label] = name
    return names


def _read_index(root: Path) -> dict[str, str]:
    """Engine label -> folder, of the folders earlier runs of sshconv wrote in ``root`` (its index); none without one."""
    from ..errors import UsageError, param
    from ..fsutil import read_json_file

    index = root / INDEX_NAME
    if not index.exists() and not index.is_symlink():
        return {}
    try:
        doc = read_json_file(index) if not index.is_symlink() else None
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict) or not all(isinstance(v, str) and v == folder_name(v) for v in doc.values()):
        raise UsageError(f"submission folder {root}: its {INDEX_NAME} was not written by sshconv; pass another folder as "
                         f"{param('submission_dir')}, or move that file away")  # fmt: skip
    return doc


def check_submissions(root: str | Path, engines: Iterable[str], photo_paths: Iterable[str]) -> None:
    """Refuse, before any photo runs, a submission that would write where it should not (one line, exit 2).

    ``root`` is a place to add to, not to own: an engine's folder may replace only a folder an earlier run of sshconv
    wrote there (listed in its index). Each photo's file must land inside its engine's folder (no ``.`` or ``..`` as
    its event) and on a file of its own: two photos whose names differ only in case would be one file where names
    are not case-sensitive (macOS, Windows), so they are refused everywhere.
    """
    from ..errors import UsageError, param

    root = Path(root)
    if root.is_dir():
        ours = set(_read_index(root).values())
        for name in _folder_names(engines).values():
            there = root / name
            if (there.exists() or there.is_symlink()) and name not in ours:
                raise UsageError(f"submission folder {root}: {there} is already there and sshconv did not write it; pass "
                                 f"an empty folder as {param('submission_dir')}, or move it away")  # fmt: skip
    seen: dict[tuple[str, str], str] = {}
    for path in photo_paths:
        _claim(path, seen)


def _claim(path: str, seen: dict[tuple[str, str], str]) -> tuple[str, str]:
    """``(event, name)`` of the photo's submission file, refused if it would leave the engine's folder or is ``seen``."""
    from ..dataset.wider_mat import photo_key
    from ..errors import InputError

    event, name = photo_key(path)
    if event in (".", "..") or "\0" in path or not name:
        raise InputError(f"ground truth photo {path!r}: its submission file would not be <event>/<photo>.txt inside "
                         "the engine's folder; name the photo <event>/<file>.jpg in the ground truth")  # fmt: skip
    key = (event.casefold(), name.casefold())
    if key in seen:
        raise InputError(f"ground truth photos {seen[key]!r} and {path!r}: one submission file for both (names that "
                         "differ only in case are one file on macOS and Windows); rename one of them")  # fmt: skip
    seen[key] = path
    return event, name


def write_submissions(root: str | Path, engines: Iterable[str], photos: Iterable[tuple[str, dict[str, str]]]) -> dict[str, Path]:
    """Every engine's submission folder under ``root``, each written whole and then put in place.

    ``photos`` yields ``(photo path, {engine label: lines})``. A folder already there is replaced only if an
    earlier run wrote it (:func:`check_submissions`), and only once the new one is complete. Returns the folder
    of each engine.
    """
    import contextlib
    import json
    import os
    import shutil

    from ..fsutil import atomic_folder, atomic_write_text, ensure_dir, no_space_left

    root = ensure_dir(root, "submission folder")
    labels = list(engines)
    check_submissions(root, labels, ())  # again, at the last moment: the folder may have changed since the photos ran
    names = _folder_names(labels)
    staged = {label: root / f".{names[label]}.new" for label in labels}
    for path in staged.values():
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.ExitStack() as stack:  # each folder renamed into place (staged) only if every one was written
        folders = {label: stack.enter_context(atomic_folder(staged[label], "submission folder")) for label in labels}
        with no_space_left(root, "submission folder"):
            seen: dict[tuple[str, str], str] = {}
            for photo_path, per_engine in photos:
                event, name = _claim(photo_path, seen)
                for label, lines in per_engine.items():
                    target = folders[label] / event / f"{name}.txt"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(file_text(photo_path, lines))
    out = {}
    for label in labels:
        final = root / names[label]
        if final.exists():
            old = root / f".{names[label]}.old-{os.getpid()}"
            os.replace(final, old)
            os.replace(staged[label], final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staged[label], final)
        out[label] = final
    # Earlier runs' folders stay listed (still sshconv's to replace), unless a label of this run took their name.
    index = {k: v for k, v in _read_index(root).items() if v not in names.values() and (root / v).is_dir()}
    index.update(names)
    atomic_write_text(root / INDEX_NAME, json.dumps(index, indent=2) + "\n")
    return out
