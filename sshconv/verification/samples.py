"""The inputs every model is verified on: seeded random images, structured patterns, photos."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import UsageError, param
from ..model.spec import VERIFY_PHOTOS, VERIFY_PHOTOS_QUANTIZED, VERIFY_SAMPLES, VERIFY_SEED
from .results import Sample

#: Default number of seeded random images (the structured patterns come on top), and their seed.
DEFAULT_SAMPLES = VERIFY_SAMPLES
DEFAULT_SEED = VERIFY_SEED
DEFAULT_PHOTOS = VERIFY_PHOTOS
QUANTIZED_PHOTOS = VERIFY_PHOTOS_QUANTIZED
#: Structured inputs, always checked: one grey level, channel-distinct ramps, 0/255 blocks.
PATTERNS = ("flat", "gradient", "extremes")
FLAT_LEVEL = 128.0
EXTREMES_BLOCK = 40


def pattern_image(kind: str, height: int, width: int) -> np.ndarray:
    """A structured raw-BGR input ``(1, 3, H, W)``: ``flat``, ``gradient`` or ``extremes``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "flat":
        img = np.full((3, height, width), FLAT_LEVEL, np.float32)
    elif kind == "gradient":
        # A different ramp per channel, so that swapped channels change the picture.
        img = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), (xx + yy) / max(width + height - 2, 1)])
        img = np.round(img * 255)
    elif kind == "extremes":
        board = ((xx // EXTREMES_BLOCK + yy // EXTREMES_BLOCK) % 2) * 255
        stripes = ((xx // (2 * EXTREMES_BLOCK)) % 2) * 255
        img = np.stack([board, 255 - board, stripes])
    else:
        raise UsageError(f"pattern {kind!r}: expected one of {', '.join(PATTERNS)}")
    return np.ascontiguousarray(img[None], dtype=np.float32)


def make_samples(
    shape: Sequence[int], samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
    images: str | Path | None = None, patterns: Sequence[str] = PATTERNS, photos: int = DEFAULT_PHOTOS,
) -> list[Sample]:  # fmt: skip
    """Seeded random integer images, the structured patterns, ``photos`` generated photos with faces
    (the first ones ``sshconv photos --seed SEED`` writes), and photos from ``images``; photos are resized."""
    if samples < 0:
        raise UsageError(f"{param('samples')} {samples}: expected a number >= 0")
    if photos < 0:
        raise UsageError(f"{param('photos')} {photos}: expected a number >= 0")
    _, _, h, w = (int(d) for d in shape)
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for i in range(samples):
        t = rng.integers(0, 256, size=(1, 3, h, w)).astype(np.float32)
        out.append(Sample(len(out), "random", f"random #{i} (seed {seed})", t, source=f"seed {seed}"))
    for kind in patterns:
        out.append(Sample(len(out), kind, kind, pattern_image(kind, h, w)))
    if photos:
        out += _generated_photos(photos, seed, h, w, len(out))
    if images is not None:
        from ..detection.images import fit_to_network, list_images, load_bgr

        for path in list_images(images):
            fitted = fit_to_network(load_bgr(path), h, w, mode="resize")
            out.append(Sample(len(out), "photo", path.name, fitted.tensor, tuple(fitted.scale), str(path)))
    if not out:
        raise UsageError(f"no inputs: pass {param('samples')} > 0, or a folder of photos as {param('images')}")
    return out


def _generated_photos(count: int, seed: int, height: int, width: int, first_index: int) -> list[Sample]:
    """The first ``count`` photos of ``sshconv photos --seed seed``, decoded and fitted as ``detect`` fits them."""
    from ..dataset.photos import photo_bgr
    from ..detection.images import fit_to_network

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        bgr, faces = photo_bgr(rng)
        fitted = fit_to_network(bgr, height, width, mode="resize")
        label = f"photo #{i} (seed {seed}, {len(faces)} faces)"
        truth = tuple((f.x, f.y, f.x + f.w - 1, f.y + f.h - 1) for f in faces)  # upstream's +1 convention, as boxes are
        out.append(Sample(first_index + i, "photo", label, fitted.tensor, tuple(fitted.scale), f"generated photo, seed {seed}",
                          truth))  # fmt: skip
    return out


def make_shape_samples(
    shapes: Sequence[Sequence[int]], samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
    images: str | Path | None = None, photos: int = DEFAULT_PHOTOS,
) -> list[Sample]:  # fmt: skip
    """:func:`make_samples` at each shape, grouped by shape (a runner recompiles once per shape).

    At a batch of ``N``, sample ``j`` stacks the single-image samples ``j, j+1, .. j+N-1`` (cyclically),
    so that every image is the first of one batch (detection parity decodes a batch's first image)
    and no batch is one image repeated. With several shapes each label ends with its shape.
    """
    from ..model.shapes import check_shape, shape_text

    out: list[Sample] = []
    for shape in shapes:
        n, c, h, w = check_shape(shape)
        single = make_samples((1, c, h, w), samples, seed, images, photos=photos)
        for j, first in enumerate(single):
            members = [single[(j + k) % len(single)] for k in range(n)]
            tensor = first.tensor if n == 1 else np.concatenate([m.tensor for m in members])
            label = first.label if len(shapes) == 1 else f"{first.label} @ {shape_text((n, c, h, w))}"
            if n > 1:
                label += f" + {n - 1} more"
            out.append(Sample(len(out), first.kind, label, tensor, first.scale, first.source, first.faces))
    return out
