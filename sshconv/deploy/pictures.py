"""The report's pictures: error histograms (matplotlib, Agg) and sample images with both engines' boxes (Pillow)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

#: Boxes drawn per engine on a sample image: the best-scoring ones (a synthetic or
#: untrained checkpoint can give thousands, which would hide the picture).
MAX_DRAWN_BOXES = 25
#: Width in pixels of the sample images on the page (they are downscaled to it).
SAMPLE_WIDTH = 256
#: Histogram bins, log-spaced over this range of tolerance units.
HIST_RANGE = (1e-6, 1e2)
HIST_BINS = 64
JPEG_QUALITY = 85
REFERENCE_COLOR = (255, 64, 64)  # RGB: MXNet boxes
CANDIDATE_COLOR = (0, 220, 0)  # RGB: converted model boxes


def tolerance_units(reference: np.ndarray, candidate: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """Element-wise ``|candidate - reference| / (atol + rtol * |reference|)``, flattened (``<= 1`` passes)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cand = np.asarray(candidate, dtype=np.float64).ravel()
    limit = atol + rtol * np.abs(ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        units = np.abs(cand - ref) / limit
    return np.where(limit > 0, units, np.where(cand == ref, 0.0, np.inf))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def histogram_png(output: str, series: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """A PNG histogram of each artifact's errors (tolerance units, log axis) for one output."""
    plt = _pyplot()
    lo, hi = HIST_RANGE
    bins = np.logspace(np.log10(lo), np.log10(hi), HIST_BINS + 1)
    fig, ax = plt.subplots(figsize=(5.6, 2.6 + 0.16 * len(series)), dpi=100)
    try:
        for label, units in series:
            finite = np.asarray(units, dtype=np.float64)
            exact = int(np.count_nonzero(finite == 0))
            shown = np.clip(finite[finite > 0], lo, hi)  # out-of-range errors pile into the end bins
            worst = float(np.max(finite)) if finite.size else 0.0
            ax.hist(shown, bins=bins, histtype="step", linewidth=1.6, label=f"{label} (max {worst:.3g}, {exact} exact)")
        ax.axvline(1.0, color="#c00", linestyle="--", linewidth=1.2)
        ax.text(1.0, 0.97, " tolerance", color="#c00", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("|IR - MXNet| / (atol + rtol·|MXNet|)", fontsize=8)
        ax.set_ylabel("elements", fontsize=8)
        ax.set_title(output, fontsize=9, family="monospace")
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.25)
        fig.tight_layout()
        # The legend goes under the axes, where it cannot hide a curve.
        height = fig.get_figheight()
        legend_in = 0.16 * len(series) + 0.15
        fig.subplots_adjust(bottom=(legend_in + 0.45) / height)
        fig.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.08, 0.0), frameon=False, ncol=1)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def overlay_jpeg(
    raw_bgr: np.ndarray, reference: np.ndarray, candidate: np.ndarray, scale: tuple[float, float] = (1.0, 1.0)
) -> bytes:
    """The sample image (``[1,3,H,W]`` raw BGR or ``H x W x 3``) with both sets of boxes, as JPEG bytes.

    Reference (MXNet) boxes are drawn thick in red, the converted model's thin in green
    over them, so a green box inside a red one means agreement. Only the
    :data:`MAX_DRAWN_BOXES` best of each are drawn. ``scale`` is ``(sy, sx)``, network
    pixels per photo pixel, in which the boxes are given: the picture is drawn back in the
    photo's own proportions, :data:`SAMPLE_WIDTH` pixels wide.
    """
    from PIL import Image, ImageDraw

    arr = np.asarray(raw_bgr)
    if arr.ndim == 4:
        arr = arr[0].transpose(1, 2, 0)
    rgb = np.clip(arr[:, :, ::-1], 0, 255).astype(np.uint8)
    img = Image.fromarray(np.ascontiguousarray(rgb))
    sy, sx = scale
    photo_w, photo_h = img.width / sx, img.height / sy
    kx = SAMPLE_WIDTH / photo_w
    height = max(1, round(photo_h * kx))
    ky = height / photo_h
    img = img.resize((SAMPLE_WIDTH, height), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    for dets, color, width in ((reference, REFERENCE_COLOR, 3), (candidate, CANDIDATE_COLOR, 1)):
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        dets = dets[np.argsort(-dets[:, 4], kind="stable")][:MAX_DRAWN_BOXES]
        for x1, y1, x2, y2, _ in dets:
            draw.rectangle([x1 * kx, y1 * ky, x2 * kx, y2 * ky], outline=color, width=width)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)  # random-noise samples are 10x smaller than as PNG
    return buf.getvalue()
