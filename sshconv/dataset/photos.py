"""Generated labelled photos in the WIDER FACE layout: ``sshconv photos``.

Each photo has its own size and aspect, a background (texture, gradient, noise, or
non-face shapes), and 0 to several drawn faces from 16 to 400 px tall, varied in skin
tone, shape, pose (turned and tilted), lighting (a light gradient across the face) and
partial occlusion (a bar or patch over part of it); the photo is saved as JPEG at a varied
quality. The boxes go to ``wider_face_val_bbx_gt.txt`` in WIDER's exact format, with
``occlusion``, ``pose`` and ``illumination`` set from how each face was drawn, and to the
official evaluation's four ``.mat`` files in ``eval_tools/ground_truth/`` (which face counts in
Easy, Medium and Hard by :func:`~.wider_mat.settings_of`). ``layout="official"`` puts the photos
and the text file where WIDER's release has them (``WIDER_val/images/``,
``wider_face_split/``) instead of ``images/`` and the folder itself. The same
seed gives the same files: every choice comes from NumPy's seeded generator, and Pillow's
drawing and JPEG encoding are deterministic.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError, param
from ..events import Emitter, EventHandler
from ..fsutil import atomic_write_bytes, atomic_write_text, ensure_dir
from .wider import GT_NAME, IMAGES, Face, Photo, gt_text

if TYPE_CHECKING:  # numpy and Pillow load when photos are made, so that `sshconv --help` stays light
    import numpy as np

DEFAULT_COUNT = 100
DEFAULT_SEED = 2017
#: Photo sides (pixels) and face heights (pixels) drawn from these ranges.
PHOTO_SIDES = (240, 1024)
FACE_HEIGHTS = (16, 400)
MAX_FACES = 6
#: Events (WIDER's folder names are "<n>--<Event>"); photos are spread over them.
EVENTS = ("0--Parade", "1--Handshaking", "2--Demonstration", "3--Riot", "4--Dancing", "5--Car_Accident")
SKIN_TONES = ((255, 224, 196), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (92, 56, 30))
JPEG_QUALITY = (60, 95)


#: Where photos and the ground-truth text go: the plain layout, or as WIDER's release ships them.
LAYOUTS = {"plain": (IMAGES, GT_NAME), "official": (f"WIDER_val/{IMAGES}", f"wider_face_split/{GT_NAME}")}
DEFAULT_LAYOUT = "plain"


@dataclass
class PhotosResult:
    folder: Path
    ground_truth: Path
    photos: list[Photo]
    mats: list[Path] | None = None

    @property
    def faces(self) -> int:
        return sum(len(p.faces) for p in self.photos)

    def to_dict(self) -> dict:
        return {"folder": str(self.folder), "ground_truth": str(self.ground_truth), "photos": len(self.photos),
                "faces": self.faces, "face_free": sum(1 for p in self.photos if not p.faces),
                "mats": [str(m) for m in self.mats or []]}  # fmt: skip


def make_photos(
    output_dir: str | Path, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED, on_event: EventHandler | None = None,
    layout: str = DEFAULT_LAYOUT,
) -> PhotosResult:
    """Write ``count`` labelled photos, their ground truth and the official evaluation's .mat files into ``output_dir``."""
    import numpy as np

    from .wider_mat import MAT_FOLDERS, write_mats

    if count < 1:
        raise UsageError(f"{param('count')} {count}: expected at least 1 photo")
    if layout not in LAYOUTS:
        raise UsageError(f"{param('layout')} {layout!r}: expected one of {', '.join(LAYOUTS)}")
    images, gt_name = LAYOUTS[layout]
    folder = ensure_dir(output_dir)
    rng = np.random.default_rng(seed)
    emit = Emitter("photos", on_event)
    emit.start(count, "image", item=str(folder))
    photos = []
    for i in range(count):
        event = EVENTS[i % len(EVENTS)]
        name = f"{event}/{event.split('--')[1]}_sshconv_{seed}_{i}.jpg"
        jpeg, faces = draw_photo(rng)
        atomic_write_bytes(folder / images / name, jpeg)
        photos.append(Photo(name, tuple(faces)))
        emit.progress(i + 1, count, "image", item=name, faces=len(faces))
    mats = write_mats(folder / MAT_FOLDERS[0], photos)
    gt = atomic_write_text(folder / gt_name, gt_text(photos))  # last: a folder without it is unfinished
    emit("done", photos=count)
    return PhotosResult(folder, gt, photos, mats)


def draw_photo(
    rng: np.random.Generator, size: tuple[int, int] | None = None, faces: int | None = None
) -> tuple[bytes, list[Face]]:
    """One labelled photo: its JPEG bytes and its faces (``size`` = (width, height) and the number of faces to
    try to place, when given, instead of drawn at random)."""
    import numpy as np
    from PIL import Image, ImageDraw

    if size is None:
        width = int(rng.integers(*PHOTO_SIDES))
        height = int(np.clip(width * rng.choice([0.5, 0.75, 1.0, 1.33, 1.6]), PHOTO_SIDES[0], PHOTO_SIDES[1]))
    else:
        width, height = size
    img = Image.fromarray(_background(rng, height, width))
    draw = ImageDraw.Draw(img)
    placed: list[Face] = []
    n = int(rng.choice(MAX_FACES + 1, p=[0.15, 0.3, 0.2, 0.12, 0.1, 0.08, 0.05])) if faces is None else faces
    for _ in range(n):
        face = _face(rng, draw, img, width, height, placed)
        if face is not None:
            placed.append(face)
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=int(rng.integers(*JPEG_QUALITY)))
    return buffer.getvalue(), placed


def photo_bgr(
    rng: np.random.Generator, size: tuple[int, int] | None = None, faces: int | None = None
) -> tuple[np.ndarray, list[Face]]:
    """:func:`draw_photo`, decoded from its JPEG: ``H x W x 3`` BGR ``uint8`` pixels (what ``detect`` reads) and its faces."""
    import numpy as np
    from PIL import Image

    jpeg, placed = draw_photo(rng, size, faces)
    with Image.open(io.BytesIO(jpeg)) as img:
        rgb = np.asarray(img.convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1]), placed


FACE_FREE_KINDS = ("noise", "gradient", "flat")


def face_free_picture(rng: np.random.Generator, kind: str, height: int = 640, width: int = 640) -> np.ndarray:
    """An ``H x W x 3`` RGB picture with nothing like a face: uniform noise, a two-colour gradient, or one flat colour."""
    import numpy as np

    if kind == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    if kind == "flat":
        b = a
    t = np.linspace(0, 1, width)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, height)[:, None, None]
    return np.broadcast_to(a * (1 - t) + b * t, (height, width, 3)).round().astype(np.uint8)


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Texture, gradient, noise or non-face shapes: what a detector must learn to ignore."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    kind = rng.integers(4)
    if kind == 0:  # gradient between two colours
        a, b = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        t = np.linspace(0, 1, width)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, height)[:, None, None]
        arr = np.broadcast_to(a * (1 - t) + b * t, (height, width, 3))
    elif kind == 1:  # noise, smoothed to a texture of random grain
        arr = rng.normal(rng.integers(40, 200), rng.integers(10, 60), (height, width, 3))
        arr = np.asarray(
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(rng.uniform(0, 3)))
        )
    elif kind == 2:  # stripes or checks
        period = int(rng.integers(4, 60))
        yy, xx = np.mgrid[0:height, 0:width]
        mask = ((xx // period + (yy // period if rng.random() < 0.5 else 0)) % 2)[..., None]
        arr = np.where(mask, rng.integers(0, 256, 3), rng.integers(0, 256, 3))
    else:  # flat with non-face shapes: boxes, blobs and lines in non-skin colours
        arr = np.full((height, width, 3), rng.integers(0, 256, 3))
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 12))):
        x, y = rng.integers(0, width), rng.integers(0, height)
        s = int(rng.integers(8, max(9, min(width, height) // 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(3)
        if shape == 0:
            draw.rectangle([x, y, x + s, y + int(s * rng.uniform(0.3, 2))], fill=colour)
        elif shape == 1:
            draw.ellipse([x, y, x + s, y + int(s * rng.uniform(0.3, 0.8))], fill=colour)
        else:
            draw.line(
                [x, y, x + int(rng.integers(-s, s)), y + int(rng.integers(-s, s))], fill=colour, width=int(rng.integers(1, 6))
            )
    return np.asarray(img)


def _face(rng: np.random.Generator, draw, img, width: int, height: int, placed: list[Face]) -> Face | None:
    """Draw one face where it fits without covering another; return its box, or None if none fits."""
    import numpy as np
    from PIL import Image

    top = min(FACE_HEIGHTS[1], int(height * 0.8))
    if top <= FACE_HEIGHTS[0]:
        return None
    h = int(math.exp(rng.uniform(math.log(FACE_HEIGHTS[0]), math.log(top))))  # more small faces than large ones
    w = max(8, int(h * rng.uniform(0.7, 0.9)))
    for _ in range(20):
        x, y = int(rng.integers(0, max(1, width - w))), int(rng.integers(0, max(1, height - h)))
        if all(x + w < f.x or f.x + f.w < x or y + h < f.y or f.y + f.h < y for f in placed):
            break
    else:
        return None
    tone = np.array(SKIN_TONES[int(rng.integers(len(SKIN_TONES)))], float) * rng.uniform(0.85, 1.1)
    turn, tilt = rng.uniform(-0.35, 0.35), rng.uniform(-0.25, 0.25)  # left/right and up/down, fractions of the size
    light = rng.uniform(0.35, 1.0)  # the dark side's brightness: < 0.55 counts as extreme illumination
    face = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    _draw_face(face, tone, turn, tilt, light, rng)
    img.paste(face, (x, y), face)
    occlusion = 0
    if rng.random() < 0.25:  # a bar or patch over part of the face
        covered = rng.uniform(0.15, 0.6)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.rectangle([x, y + int(h * (1 - covered)), x + w, y + h], fill=colour)
        else:
            draw.rectangle([x, y, x + int(w * covered), y + h], fill=colour)
        occlusion = 1 if covered < 0.35 else 2
    pose = int(abs(turn) > 0.25 or abs(tilt) > 0.18)
    return Face(x, y, w, h, illumination=int(light < 0.55), occlusion=occlusion, pose=pose)


def _draw_face(face, tone: np.ndarray, turn: float, tilt: float, light: float, rng: np.random.Generator) -> None:
    """An oval head with eyes, brows, nose and mouth, turned and tilted, lit from one side."""
    import numpy as np
    from PIL import Image, ImageDraw

    w, h = face.size
    d = ImageDraw.Draw(face)
    d.ellipse([0, 0, w - 1, h - 1], fill=(*(int(c) for c in np.clip(tone, 0, 255)), 255))
    cx, cy = w * (0.5 + turn * 0.4), h * (0.5 + tilt * 0.4)
    eye_w, eye_h = w * 0.14, h * rng.uniform(0.05, 0.09)
    dark = (int(rng.integers(20, 70)),) * 3
    for side in (-1, 1):
        ex = cx + side * w * 0.2 * (1 - abs(turn) * (side * np.sign(turn) + 1) / 2)
        d.ellipse([ex - eye_w, cy - h * 0.16 - eye_h, ex + eye_w, cy - h * 0.16 + eye_h], fill=(245, 245, 240, 255))
        d.ellipse(
            [ex - eye_w * 0.45, cy - h * 0.16 - eye_h * 0.9, ex + eye_w * 0.45, cy - h * 0.16 + eye_h * 0.9], fill=(*dark, 255)
        )
        d.line([ex - eye_w * 1.2, cy - h * 0.27, ex + eye_w * 1.2, cy - h * 0.28], fill=(*dark, 255), width=max(1, h // 40))
    d.line([cx, cy - h * 0.08, cx + w * 0.04, cy + h * 0.08], fill=(*(int(c * 0.7) for c in tone), 255), width=max(1, h // 50))
    lips = (int(rng.integers(120, 200)), int(rng.integers(40, 90)), int(rng.integers(50, 90)), 255)
    d.ellipse([cx - w * 0.16, cy + h * 0.2, cx + w * 0.16, cy + h * 0.2 + h * rng.uniform(0.04, 0.1)], fill=lips)
    # Light from one side: scale the pixels by a ramp from ``light`` to 1 across the face.
    arr = np.asarray(face).astype(np.float32)
    ramp = np.linspace(light, 1.0, w)[None, :, None] if rng.random() < 0.5 else np.linspace(1.0, light, w)[None, :, None]
    arr[..., :3] *= ramp
    face.paste(Image.fromarray(arr.clip(0, 255).astype(np.uint8)))
