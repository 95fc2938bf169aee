"""Input shapes beyond the card's 640x640: how they are written, which the network takes, the default sweep.

SSH is fully convolutional: any height and width at least :data:`MIN_SIDE` (one cell of the
coarsest stride) and any batch give the six outputs, each ``feature_size(side, stride)``
cells tall and wide. A shape is written ``NxHxW`` (``1x720x1280``), ``HxW`` (batch 1) or
``Nx3xHxW``; :func:`parse_shapes` reads a comma-separated list of them, or ``sweep``.
What one inference may hold is capped by :data:`PIXEL_BUDGET` (batch x height x width):
past it MXNet's executor alone needs more than 5 GB.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError
from .spec import STRIDES, ModelSpec

#: The smallest height or width: one cell of the coarsest stride (smaller inputs leave the stride-32 map empty).
MIN_SIDE = max(STRIDES)
#: Batch x height x width one inference may hold: two 1920x1080 frames.
PIXEL_BUDGET = 2 * 1920 * 1080
#: The default sweep of ``verify --shapes``: the card's shape, a 16:9 frame, a size that is no
#: multiple of 8 or 16 (481x777: the stride-8 crop, 777 // 8 = 97 cells against 2 x (777 // 16) = 96), and a batch.
SWEEP = ((1, 3, 640, 640), (1, 3, 720, 1280), (1, 3, 481, 777), (2, 3, 640, 640))
SWEEP_NAME = "sweep"


def shape_text(shape: Sequence[int]) -> str:
    """``1x3x720x1280``."""
    return "x".join(str(int(d)) for d in shape)


def parse_shape(text: str, channels: int = 3) -> tuple[int, int, int, int]:
    """``NxHxW``, ``HxW`` or ``NxCxHxW`` as an NCHW tuple, checked by :func:`check_shape`."""
    parts = [p.strip() for p in str(text).lower().replace("*", "x").split("x")]
    try:
        dims = [int(p) for p in parts]
    except ValueError:
        dims = []
    if len(dims) == 2:
        dims = [1, channels, *dims]
    elif len(dims) == 3:
        dims = [dims[0], channels, dims[1], dims[2]]
    if len(dims) != 4:
        raise UsageError(f"shape {text!r}: write it as NxHxW (1x720x1280), HxW (720x1280) or NxCxHxW (1x3x720x1280)")
    return check_shape(dims, channels)


def check_shape(shape: Sequence[int], channels: int = 3) -> tuple[int, int, int, int]:
    """``shape`` as a 4-tuple the network takes, or a :class:`UsageError` saying what is wrong with it."""
    dims = tuple(int(d) for d in shape)
    text = shape_text(dims)
    if len(dims) != 4:
        raise UsageError(f"shape {text}: expected 4 dimensions N x {channels} x H x W")
    n, c, h, w = dims
    if min(dims) <= 0:
        raise UsageError(f"shape {text}: every dimension must be at least 1")
    if c != channels:
        raise UsageError(f"shape {text}: the network takes {channels} channels (BGR), not {c}")
    if min(h, w) < MIN_SIDE:
        raise UsageError(
            f"shape {text}: height and width must be at least {MIN_SIDE} pixels (one cell of the stride-{MIN_SIDE} map); "
            f"upscale the image"
        )
    if n * h * w > PIXEL_BUDGET:
        raise UsageError(
            f"shape {text}: batch x height x width is {n * h * w:,} pixels, over the budget of {PIXEL_BUDGET:,} "
            f"(two 1920x1080 frames); use a smaller batch or size"
        )
    return dims


def parse_shapes(text: str | Sequence[str] | None, spec: ModelSpec | None = None) -> tuple[tuple[int, int, int, int], ...]:
    """A comma-separated list of shapes (or several), ``sweep`` for :data:`SWEEP`; ``None``: model.yml's shape."""
    if text is None:
        return (check_shape(spec.input.shape) if spec is not None else SWEEP[0],)
    items = [text] if isinstance(text, str) else list(text)
    shapes: list[tuple[int, int, int, int]] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            for shape in SWEEP if part.lower() == SWEEP_NAME else (parse_shape(part),):
                if shape not in shapes:
                    shapes.append(shape)
    if not shapes:
        raise UsageError(f"shapes {text!r}: give at least one shape, such as 1x720x1280, or {SWEEP_NAME}")
    return tuple(shapes)
