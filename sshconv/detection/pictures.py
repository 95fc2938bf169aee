"""A photo with two engines' faces drawn over it (Pillow), as every report shows them.

The reference's boxes (MXNet) are drawn thick in red, the other engine's thin in green over
them, and the ground truth, where it is known, in blue beneath both.
"""

from __future__ import annotations

import io

import numpy as np

#: Boxes drawn per engine on a picture: the best-scoring ones (a synthetic or untrained
#: checkpoint can give thousands, which would hide the picture).
MAX_DRAWN_BOXES = 25
#: Width in pixels of the pictures on a page (they are downscaled to it).
SAMPLE_WIDTH = 256
JPEG_QUALITY = 85
REFERENCE_COLOR = (255, 64, 64)  # RGB: MXNet boxes
CANDIDATE_COLOR = (0, 220, 0)  # RGB: converted model boxes
TRUTH_COLOR = (40, 110, 255)  # RGB: the labelled faces


def overlay_jpeg(
    raw_bgr: np.ndarray,
    reference: np.ndarray,
    candidate: np.ndarray,
    scale: tuple[float, float] = (1.0, 1.0),
    truth: np.ndarray | None = None,
) -> bytes:
    """The sample image (``[1,3,H,W]`` raw BGR or ``H x W x 3``) with both sets of boxes, as JPEG bytes.

    Reference (MXNet) boxes are drawn thick in red, the converted model's thin in green
    over them, so a green box inside a red one means agreement. Only the
    :data:`MAX_DRAWN_BOXES` best of each are drawn. ``scale`` is ``(sy, sx)``, network
    pixels per photo pixel, in which the boxes are given: the picture is drawn back in the
    photo's own proportions, :data:`SAMPLE_WIDTH` pixels wide. ``truth``: the labelled faces
    ``(N, 4)`` as ``x1, y1, x2, y2`` in the same pixels, drawn first (blue).
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
    if truth is not None:
        for x1, y1, x2, y2 in np.asarray(truth, dtype=np.float64).reshape(-1, 4):
            draw.rectangle([x1 * kx - 2, y1 * ky - 2, x2 * kx + 2, y2 * ky + 2], outline=TRUTH_COLOR, width=1)
    for dets, color, width in ((reference, REFERENCE_COLOR, 3), (candidate, CANDIDATE_COLOR, 1)):
        dets = np.asarray(dets, dtype=np.float64).reshape(-1, 5)
        dets = dets[np.argsort(-dets[:, 4], kind="stable")][:MAX_DRAWN_BOXES]
        for x1, y1, x2, y2, _ in dets:
            draw.rectangle([x1 * kx, y1 * ky, x2 * kx, y2 * ky], outline=color, width=width)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=JPEG_QUALITY)  # random-noise samples are 10x smaller than as PNG
    return buf.getvalue()
