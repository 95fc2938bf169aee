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


def write_submissions(root: str | Path, engines: Iterable[str], photos: Iterable[tuple[str, dict[str, str]]]) -> dict[str, Path]:
    """Every engine's submission folder under ``root``, each written whole and then put in place.

    ``photos`` yields ``(photo path, {engine label: lines})``. A folder already there (an earlier
    run's) is replaced only once the new one is complete. Returns the folder of each engine.
    """
    import contextlib
    import json
    import os
    import shutil

    from ..dataset.wider_mat import photo_key
    from ..fsutil import atomic_folder, atomic_write_text, ensure_dir, no_space_left

    root = ensure_dir(root, "submission folder")
    labels = list(engines)
    names: dict[str, str] = {}
    for label in labels:
        name, n = folder_name(label), 2
        while name in names.values():
            name, n = f"{folder_name(label)}-{n}", n + 1
        names[label] = name
    staged = {label: root / f".{names[label]}.new" for label in labels}
    for path in staged.values():
        shutil.rmtree(path, ignore_errors=True)
    with contextlib.ExitStack() as stack:  # each folder renamed into place (staged) only if every one was written
        folders = {label: stack.enter_context(atomic_folder(staged[label], "submission folder")) for label in labels}
        with no_space_left(root, "submission folder"):
            for photo_path, per_engine in photos:
                event, name = photo_key(photo_path)
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
    atomic_write_text(root / INDEX_NAME, json.dumps({label: names[label] for label in labels}, indent=2) + "\n")
    return out
