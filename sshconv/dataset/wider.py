"""The WIDER FACE layout: ``images/<event>/<file>`` and a ground-truth text file, read and written.

The ground truth (``wider_face_val_bbx_gt.txt``) lists, per photo: its path relative to
``images/``; the number of faces; then one line per face, ``x y w h blur expression
illumination invalid occlusion pose`` (integers, pixels from the top left). A photo without
a face has the count 0 and one line of ten zeros, as WIDER writes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

GT_NAME = "wider_face_val_bbx_gt.txt"
IMAGES = "images"
ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")


@dataclass(frozen=True)
class Face:
    x: int
    y: int
    w: int
    h: int
    blur: int = 0
    expression: int = 0
    illumination: int = 0
    invalid: int = 0
    occlusion: int = 0
    pose: int = 0

    def line(self) -> str:
        return " ".join(str(v) for v in (self.x, self.y, self.w, self.h, *(getattr(self, a) for a in ATTRIBUTES)))


@dataclass(frozen=True)
class Photo:
    path: str  # relative to images/, "<event>/<file>"
    faces: tuple[Face, ...]


def gt_text(photos: Iterable[Photo]) -> str:
    """The ground-truth file's text, exactly in WIDER's format."""
    lines = []
    for p in photos:
        lines += [p.path, str(len(p.faces))]
        lines += [f.line() for f in p.faces] if p.faces else ["0 0 0 0 0 0 0 0 0 0"]
    return "\n".join(lines) + "\n"


def read_gt(path: str | Path) -> Iterator[Photo]:
    """The photos of a ground-truth file, one at a time (a WIDER val file has 3,226); one-line errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"ground truth {path}: cannot read it ({exc.__class__.__name__}); pass a WIDER FACE *_bbx_gt.txt"
        ) from None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        i += 1
        if not name:
            continue
        try:
            count = int(lines[i])
            i += 1
            faces = []
            for _ in range(max(count, 1)):  # a photo without a face still has one line of zeros
                values = [int(v) for v in lines[i].split()]
                i += 1
                if count:
                    if len(values) < 10:
                        raise ValueError(f"a face line needs 10 numbers, got {len(values)}")
                    faces.append(Face(*values[:10]))
        except (IndexError, ValueError) as exc:
            raise InputError(
                f"ground truth {path}: line {i + 1}: not WIDER FACE's format ({exc or 'it ends early'}); pass a *_bbx_gt.txt"
            ) from None
        yield Photo(name, tuple(faces))
