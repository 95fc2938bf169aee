"""Photos as upstream reads them: OpenCV's bilinear resize, bit for bit, and EXIF orientation honoured."""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.detection.images import fit_to_network, load_bgr, resize_linear
from sshconv.errors import InputError

pytestmark = pytest.mark.quick


@pytest.mark.parametrize(
    "src_hw, dst_hw",
    [((480, 1280), (640, 640)), ((1080, 1920), (640, 640)), ((300, 200), (640, 640)), ((123, 457), (320, 480)),
     ((1280, 1280), (640, 640)), ((37, 3000), (640, 640)), ((1, 1), (640, 640)), ((641, 639), (640, 640))],
)  # fmt: skip
def test_resize_is_opencvs_inter_linear_bit_for_bit(src_hw, dst_hw):
    cv2 = pytest.importorskip("cv2", reason="OpenCV is not installed here (it comes with the conversion stack)")
    img = np.random.default_rng(sum(src_hw)).integers(0, 256, (*src_hw, 3), dtype=np.uint8)
    want = cv2.resize(img, dst_hw[::-1], interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(resize_linear(img, *dst_hw), want)


def test_resize_pinned_values_without_opencv():
    """A 2x3 picture upscaled to 4x5: values computed by OpenCV 4.11 (cv2.INTER_LINEAR), pinned here."""
    img = np.array([[[0], [100], [255]], [[50], [150], [200]]], dtype=np.uint8).repeat(3, axis=2)
    got = resize_linear(img, 4, 5)[:, :, 0]
    want = np.array([[0, 40, 100, 193, 255], [13, 52, 113, 190, 241], [38, 77, 138, 183, 214], [50, 90, 150, 180, 200]], np.uint8)
    np.testing.assert_array_equal(got, want)


def test_resize_is_not_pillows_bilinear():
    """Pillow antialiases a downscale; OpenCV samples two taps: on fine stripes the two differ a lot."""
    from PIL import Image

    stripes = np.zeros((48, 48, 3), np.uint8)
    stripes[:, ::2] = 255  # 3x down: OpenCV's taps land on odd (black) columns, Pillow averages three
    pillow = np.asarray(Image.fromarray(stripes).resize((16, 16), Image.BILINEAR))
    assert np.abs(resize_linear(stripes, 16, 16).astype(int) - pillow).max() > 50
    assert fit_to_network(stripes, 16, 16).tensor.shape == (1, 3, 16, 16)


def test_exif_orientation_is_honoured(tmp_path):
    """A portrait photo stored sideways with orientation 6 (rotate 90 clockwise) comes out upright."""
    from PIL import Image

    stored = np.zeros((40, 60, 3), np.uint8)  # 60 wide, 40 tall, as the sensor wrote it
    stored[:, :10] = (255, 0, 0)  # a red band on the stored left edge
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "portrait.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    bgr = load_bgr(path)
    assert bgr.shape[:2] == (60, 40), "turned upright: 40 wide, 60 tall"
    assert bgr[:10, :, 2].mean() > 200 and bgr[-10:, :, 2].mean() < 50, "the stored left edge is now the top"
    try:
        import cv2
    except ImportError:  # the runtime stack has no OpenCV; the conversion stack's run compares
        return
    assert cv2.imread(str(path)).shape == bgr.shape, "as OpenCV reads it"


def test_an_image_that_is_a_named_pipe_or_a_folder_is_refused(tmp_path):
    import os

    import pytest

    from sshconv.detection.images import load_bgr
    from sshconv.errors import InputError

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="named pipe"):
        load_bgr(fifo)
    with pytest.raises(InputError, match="is a folder"):
        load_bgr(tmp_path)


def _image_kinds(rng):
    """One photo in each format, bit depth, alpha and colour mode that real photo sets hold, as file bytes."""
    import io

    from PIL import Image

    base = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    base = ((base.astype(np.uint16) + np.roll(base, 1, 0) + np.roll(base, 1, 1)) // 3).astype(np.uint8)  # JPEG-like
    rgb = Image.fromarray(base)

    def save(img, fmt, **kw):
        b = io.BytesIO()
        img.save(b, format=fmt, **kw)
        return b.getvalue()

    rgba = rgb.copy()
    rgba.putalpha(Image.fromarray(rng.integers(0, 256, (61, 83), dtype=np.uint8)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    grey16 = Image.fromarray((base[:, :, 0].astype(np.uint16) * 257 + 99).astype(np.uint16))
    kinds = {
        "jpeg 4:4:4": save(rgb, "JPEG", quality=90, subsampling=0),
        "jpeg 4:2:0": save(rgb, "JPEG", quality=90, subsampling=2),
        "jpeg 4:2:2": save(rgb, "JPEG", quality=75, subsampling=1),
        "jpeg progressive": save(rgb, "JPEG", quality=85, progressive=True),
        "jpeg grey": save(rgb.convert("L"), "JPEG"),
        "jpeg cmyk": save(rgb.convert("CMYK"), "JPEG"),
        "jpeg exif-rotated": save(rgb, "JPEG", exif=exif.tobytes()),
        "png rgb": save(rgb, "PNG"),
        "png rgba": save(rgba, "PNG"),
        "png grey": save(rgb.convert("L"), "PNG"),
        "png grey+alpha": save(rgb.convert("LA"), "PNG"),
        "png palette": save(rgb.convert("P"), "PNG"),
        "png palette+transparency": save(rgb.convert("P"), "PNG", transparency=3),
        "png 1-bit": save(rgb.convert("1"), "PNG"),
        "png 16-bit grey": save(grey16, "PNG"),
        "bmp": save(rgb, "BMP"),
        "bmp palette": save(rgb.convert("P"), "BMP"),
        "tiff": save(rgb, "TIFF"),
        "webp": save(rgb, "WEBP", quality=80),
        "webp lossless": save(rgb, "WEBP", lossless=True),
        "ppm": save(rgb, "PPM"),
    }
    try:
        import cv2

        kinds["png 16-bit rgb"] = cv2.imencode(".png", base.astype(np.uint16) * 257 + 100)[1].tobytes()
        kinds["tiff 16-bit"] = cv2.imencode(".tiff", base.astype(np.uint16) * 257)[1].tobytes()
    except ImportError:
        pass
    return kinds


@pytest.mark.parametrize("with_opencv", [True, False], ids=["opencv installed", "pillow alone"])
def test_every_kind_of_photo_is_read_as_opencv_reads_it_or_refused(tmp_path, monkeypatch, with_opencv):
    """The reader against OpenCV's own decoder (cv2.imread, upstream's reader), kind by kind: the same pixels, or a
    one-line refusal; never other pixels without a word."""
    cv2 = pytest.importorskip("cv2", reason="the reference decoder, OpenCV, comes with the conversion stack")
    from sshconv.detection import images

    if not with_opencv:
        monkeypatch.setattr(images, "_opencv", lambda: None)
    refused = []
    for kind, data in _image_kinds(np.random.default_rng(5)).items():
        path = tmp_path / f"{kind.replace(' ', '_').replace(':', '')}.img"
        path.write_bytes(data)
        theirs = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert theirs is not None, kind
        try:
            ours = images.load_bgr(path)
        except InputError as exc:
            assert not with_opencv, f"{kind}: refused though OpenCV is here: {exc}"
            assert "OpenCV" in str(exc) and str(path) in str(exc)
            refused.append(kind)
            continue
        assert ours.shape == theirs.shape and np.array_equal(ours, theirs), f"{kind}: other pixels than OpenCV's"
    # Without OpenCV, exactly the kinds Pillow decodes otherwise are refused (it is not refusing everything).
    assert refused == ([] if with_opencv else ["jpeg cmyk", "png 16-bit grey"])


def test_a_gif_which_opencv_cannot_read_is_read_by_pillow(tmp_path):
    from PIL import Image

    from sshconv.detection.images import load_bgr

    pixels = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).convert("P").save(tmp_path / "a.gif")
    got = load_bgr(tmp_path / "a.gif")
    assert got.shape == (20, 30, 3)
    assert np.array_equal(got[:, :, ::-1], np.asarray(Image.open(tmp_path / "a.gif").convert("RGB")))
