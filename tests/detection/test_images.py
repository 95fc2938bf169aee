"""Photos as upstream reads them: OpenCV's bilinear resize, bit for bit, and EXIF orientation honoured."""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.detection.images import fit_to_network, load_bgr, resize_linear


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
