"""Reading photos into the network's raw-BGR contract, and drawing boxes on them.

One reader contract: a photo's pixels are exactly those ``cv2.imread(path, IMREAD_COLOR)`` gives
(what upstream's code and the accuracy checker read), or the photo is refused in one line,
never guessed. Where OpenCV is installed it decodes them itself; elsewhere Pillow decodes the
kinds of image whose pixels are shown equal to OpenCV's (tests/detection/test_images.py: JPEG
in colour or grey, 4:4:4/4:2:2/4:2:0, progressive, with EXIF orientation; PNG in RGB, RGBA,
grey, grey+alpha, palette, 1-bit and 16-bit RGB; BMP, TIFF, WebP, PPM): grey is replicated,
alpha dropped as OpenCV drops it. Kinds Pillow decodes otherwise (16-bit grey, CMYK JPEG, float
or 32-bit images) need OpenCV. A GIF, which OpenCV cannot read, is read by Pillow.

Photos are fitted to the network input either by plain resizing (what the Open Model Zoo
accuracy check does for this model: 640x640) or by letterboxing (keeps the aspect ratio, pads
the rest), with OpenCV's bilinear arithmetic (:func:`resize_linear`).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..fsutil import file_kind

#: Pillow's image modes whose pixels, converted to RGB, are OpenCV's IMREAD_COLOR ones (tested format by format).
PIL_MODES_AS_OPENCV = frozenset({"RGB", "RGBA", "RGBX", "L", "LA", "P", "PA", "1"})
#: Refuse images larger than this many pixels (decompression bombs, memory).
MAX_PIXELS = 100_000_000
#: OpenCV's fixed-point scale of bilinear weights (INTER_RESIZE_COEF_SCALE, 11 bits).
RESIZE_COEF_SCALE = 2048
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


@dataclass(frozen=True)
class Fitted:
    """An image fitted to the network: the input tensor and how to map boxes back."""

    tensor: np.ndarray  # (1, 3, H, W) float32, BGR 0..255
    scale: tuple[float, float]  # (sy, sx): network pixels per original pixel
    original_hw: tuple[int, int]


def load_bgr(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """``H x W x 3`` BGR ``uint8`` pixels of an image file, or an :class:`InputError` naming it.

    With ``data``, those are the file's bytes (read elsewhere, e.g. on another machine) and
    ``path`` only names it in errors.
    """
    import io

    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    kind = "file" if data is not None else file_kind(path)
    if kind == "missing":
        raise InputError(f"image {path}: no such file; pass an existing image file")
    if kind != "file":
        raise InputError(f"image {path}: is a {kind}, not a regular file; pass an image file")
    if (len(data) if data is not None else path.stat().st_size) == 0:
        raise InputError(f"image {path}: is empty (0 bytes); pass a real image file")
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    raw = data
    try:
        with warnings.catch_warnings():  # a too-large image is our own one-line error below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path if data is None else io.BytesIO(data))  # the header only: size and kind
        with img:
            if img.width * img.height > MAX_PIXELS:
                raise InputError(f"image {path}: {img.width}x{img.height} is larger than {MAX_PIXELS:,} pixels; resize it first")
            cv2 = _opencv()
            if cv2 is not None:
                raw = raw if raw is not None else path.read_bytes()
                bgr = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
                if bgr is not None:
                    return np.ascontiguousarray(bgr)
            if img.mode not in PIL_MODES_AS_OPENCV:
                raise InputError(
                    f"image {path}: {img.format or 'its'} {img.mode} pixels are decoded differently without OpenCV; "
                    "install it (pip install opencv-python-headless) or convert the photo to 8-bit RGB"
                )
            img.load()
            # A camera's orientation tag turns the picture as cv2.imread (upstream's reader) does.
            img = ImageOps.exif_transpose(img)
            rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)  # alpha dropped, as OpenCV's IMREAD_COLOR drops it
    except InputError:
        raise
    except Image.DecompressionBombError:
        raise InputError(f"image {path}: larger than {MAX_PIXELS:,} pixels; resize it first") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image {path}: not a readable image ({exc.__class__.__name__}); pass a JPEG/PNG/BMP file") from None
    if rgb.ndim != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise InputError(f"image {path}: has no pixels; pass a real image file")
    return np.ascontiguousarray(rgb[:, :, ::-1])


def fit_to_network(bgr: np.ndarray, height: int, width: int, mode: str = "resize") -> Fitted:
    """Fit ``bgr`` (H x W x 3 uint8) to the network input.

    ``resize`` stretches to ``height`` x ``width``; ``letterbox`` scales to fit keeping
    the aspect ratio and pads bottom/right with zeros (boxes need only a division).
    """
    h, w = bgr.shape[:2]
    if mode == "resize":
        sy, sx = height / h, width / w
        out = resize(bgr, height, width)
    elif mode == "letterbox":
        s = min(height / h, width / w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[:nh, :nw] = resize(bgr, nh, nw)
        out, sy, sx = canvas, nh / h, nw / w
    else:
        raise InputError(f"fit mode {mode!r}: expected resize or letterbox")
    tensor = np.ascontiguousarray(out.transpose(2, 0, 1)[None].astype(np.float32))
    return Fitted(tensor, (sy, sx), (h, w))


def resize(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """OpenCV's bilinear resize: OpenCV's own where it is installed (ten times faster), else :func:`resize_linear`.

    Both give the same bytes (tests/deploy/test_images.py checks :func:`resize_linear`
    against OpenCV on many sizes), so which one runs never changes a result.
    """
    cv2 = _opencv()
    if cv2 is None:
        return resize_linear(bgr, height, width)
    return cv2.resize(np.ascontiguousarray(bgr), (width, height), interpolation=cv2.INTER_LINEAR)


@functools.cache
def _opencv():
    """``cv2`` if it can be imported, else ``None`` (asked once: a failed import is not cached by Python)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def _taps(dst: int, src: int, clamp_weights: bool):
    """OpenCV's bilinear taps for one axis: source indices and 11-bit fixed-point weights."""
    scale = 1.0 / (dst / src)  # as OpenCV computes it: 1 / (dst / src), in double
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    i = np.floor(f).astype(np.int64)
    f = (f - i.astype(np.float32)).astype(np.float32)
    if clamp_weights:  # horizontally, a tap outside the picture is moved onto its edge with all the weight
        low, high = i < 0, i >= src - 1
        f[low], i[low] = 0, 0
        f[high], i[high] = 0, src - 1
    w0 = np.rint((np.float32(1) - f) * np.float32(RESIZE_COEF_SCALE)).astype(np.int32)
    w1 = np.rint(f * np.float32(RESIZE_COEF_SCALE)).astype(np.int32)
    return np.clip(i, 0, src - 1), np.clip(i + 1, 0, src - 1), w0, w1


def resize_linear(bgr: np.ndarray, height: int, width: int) -> np.ndarray:
    """``cv2.resize(bgr, (width, height), interpolation=cv2.INTER_LINEAR)`` for ``uint8``, bit for bit, in NumPy.

    Upstream SSH and the Open Model Zoo accuracy checker (which measured the card's mAP)
    resize with OpenCV, whose bilinear filter differs from Pillow's (no antialiasing,
    half-pixel centres, 11-bit fixed-point weights). This is that arithmetic: a horizontal
    pass in integers, then the vertical one as OpenCV's SIMD path computes it
    (``((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16)``, rounded by ``(+2) >> 2``).
    tests/deploy/test_images.py compares it with OpenCV wherever OpenCV is installed.
    """
    h, w = bgr.shape[:2]
    x0, x1, a0, a1 = _taps(width, w, True)
    y0, y1, b0, b1 = _taps(height, h, False)
    src = np.asarray(bgr, dtype=np.int32)  # 255 * 2048 * 2048 >> 4 fits: int32 is exact and twice as fast
    rows = src[:, x0] * a0[None, :, None] + src[:, x1] * a1[None, :, None]
    top, bottom = rows[y0] >> 4, rows[y1] >> 4
    value = ((top * b0[:, None, None]) >> 16) + ((bottom * b1[:, None, None]) >> 16)
    return np.clip((value + 2) >> 2, 0, 255).astype(np.uint8)


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted; an :class:`InputError` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"images folder {folder}: not a folder; pass a folder of JPEG/PNG files")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"images folder {folder}: holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files


def draw_boxes(bgr: np.ndarray, dets: np.ndarray, color=(0, 255, 0)) -> np.ndarray:
    """A copy of ``bgr`` with each ``[x1, y1, x2, y2, score]`` drawn and labelled (RGB ``color``)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    draw = ImageDraw.Draw(img)
    width = max(1, round(min(img.size) / 300))
    for x1, y1, x2, y2, score in np.asarray(dets, dtype=np.float64).reshape(-1, 5):
        draw.rectangle([x1, y1, x2, y2], outline=tuple(color), width=width)
        draw.text((x1 + 2, max(0, y1 - 12)), f"{score:.2f}", fill=tuple(color))
    return np.asarray(img)[:, :, ::-1].copy()


def save_bgr(bgr: np.ndarray, path: str | Path) -> Path:
    """Write ``bgr`` as an image (format from the suffix, PNG if none), atomically."""
    from PIL import Image

    from ..fsutil import atomic_path

    path = Path(path)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}.get(path.suffix.lower(), "PNG")
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(tmp, format=fmt)
    return path
