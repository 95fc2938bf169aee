"""How a photo of any size becomes the network's input: the fits ``detect`` offers, each a size and a resize.

* ``resize`` and ``letterbox``: the network's default size (model.yml's, 640x640), stretched or
  with the aspect ratio kept and the rest padded (what the Open Model Zoo's accuracy check does).
* ``HxW`` (``720x1280``): stretched to that size.
* ``upstream``: what mxnet-SSH's ``test_ssh.py`` does: scaled so that the shorter side is
  :data:`UPSTREAM_SHORT` pixels, unless the longer side would then pass :data:`UPSTREAM_LONG`, in which
  case so that the longer side is that; the aspect ratio kept (one scale for both axes).
* ``native``: the photo as it is, if it holds at most :data:`NATIVE_MAX_PIXELS` pixels (one 1920x1080
  frame); a larger one is scaled down to that budget, a side under :data:`~sshconv.model.shapes.MIN_SIDE`
  scaled up to it, the aspect ratio kept.

Boxes come back in the photo's pixels through :attr:`~.images.Fitted.scale` whatever the fit.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..errors import UsageError
from ..model.shapes import MIN_SIDE, parse_shape

if TYPE_CHECKING:  # numpy and the image code load when a photo is fitted (`--help` reads the fits' names)
    import numpy as np

    from .images import Fitted

FIXED_FITS = ("resize", "letterbox")
FITS = (*FIXED_FITS, "native", "upstream")
DEFAULT_FIT = "resize"
#: What a faces artifact can do to a frame before the network (or a size HxW, stretched): none (as it is), upstream's
#: scale rule, native's pixel budget.
FACES_FITS = ("none", "upstream", "native")
#: upstream's test scale: the shorter side this many pixels, the longer at most UPSTREAM_LONG.
UPSTREAM_SHORT = 1200
UPSTREAM_LONG = 1600
#: ``native`` runs photos up to one full-HD frame as they are; larger ones are scaled down to it.
NATIVE_MAX_PIXELS = 1920 * 1080


def check_fit(fit: str, fits: tuple[str, ...] = FITS, what: str = "fit") -> str:
    """``fit`` if it is one of ``fits`` or a size ``HxW``; else a one-line :class:`UsageError` naming ``what``."""
    if fit in fits:
        return fit
    if "x" in str(fit):
        _, _, h, w = parse_shape(fit)
        return f"{h}x{w}"
    raise UsageError(f"{what} {fit!r}: expected one of {', '.join(fits)}, or a size HxW such as 720x1280")


def upstream_scale(height: int, width: int) -> float:
    """test_ssh.py's scale: shorter side to UPSTREAM_SHORT, unless the longer would exceed UPSTREAM_LONG."""
    scale = UPSTREAM_SHORT / min(height, width)
    if round(scale * max(height, width)) > UPSTREAM_LONG:
        scale = UPSTREAM_LONG / max(height, width)
    return scale


def target_size(height: int, width: int, fit: str, default_hw: tuple[int, int]) -> tuple[int, int]:
    """The network input size (height, width) a ``height`` x ``width`` photo is fitted to."""
    fit = check_fit(fit)
    if fit in FIXED_FITS:
        return default_hw
    if fit == "upstream":
        scale = upstream_scale(height, width)
    elif fit == "native":
        scale = min(1.0, math.sqrt(NATIVE_MAX_PIXELS / (height * width)))
    else:
        h, w = (int(v) for v in fit.split("x"))
        return h, w
    scale = max(scale, MIN_SIDE / min(height, width))  # never below one stride-32 cell
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def fit_photo(bgr: np.ndarray, fit: str, default_hw: tuple[int, int]) -> Fitted:
    """``bgr`` (H x W x 3 uint8) fitted as ``fit`` says: the tensor, and the scale that maps boxes back."""
    from .images import fit_to_network

    fit = check_fit(fit)
    th, tw = target_size(*bgr.shape[:2], fit, default_hw)
    return fit_to_network(bgr, th, tw, "letterbox" if fit == "letterbox" else "resize")
