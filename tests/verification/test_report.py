"""The HTML report: written by `sshconv verify --html`, self-contained, every output and picture in it."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

from sshconv.fsutil import sha256_file
from sshconv.model.network import output_names
from sshconv.verification.report import OutputRow, ReportData, render_html, tolerance_units

from ..conftest import run_cli

DATA_URI = re.compile(r'src="data:(image/(?:png|jpeg));base64,([A-Za-z0-9+/=]+)"')


def _embedded_images(page: str) -> list[tuple[str, object]]:
    from PIL import Image

    images = []
    for mime, payload in DATA_URI.findall(page):
        img = Image.open(io.BytesIO(base64.b64decode(payload)))
        img.load()  # a truncated or corrupt image raises here
        assert img.format == {"image/png": "PNG", "image/jpeg": "JPEG"}[mime]
        images.append((mime, img))
    return images


@pytest.mark.slow
def test_verify_html_report_holds_every_output_and_its_pictures(synth_dir, converted_dir, tmp_path):
    xml = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    page_path = tmp_path / "reports" / "report.html"
    res = run_cli("verify", "--input-dir", synth_dir, "--ir", xml, "--samples", "0", "--html", page_path)
    assert res.code == 0, res.err
    assert f"HTML report: {page_path}" in res.out
    page = page_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "PASS" in page
    for name in output_names():
        assert page.count(name) >= 2, f"{name}: in the table and its histogram's alt text"
    images = _embedded_images(page)
    pngs = [img for mime, img in images if mime == "image/png"]
    jpegs = [img for mime, img in images if mime == "image/jpeg"]
    assert len(pngs) == 6, "one error histogram per output"
    assert all(img.width > 300 and img.height > 150 for img in pngs)
    assert len(jpegs) == 5, "one overlay per sample (flat, gradient, extremes, two photos) for the one IR"
    for label in ("flat", "gradient", "extremes", "photo #0 (seed 0, 2 faces)", "photo #1"):
        assert label in page
    # The photos' pictures show faces found by both engines, all matched.
    assert page.count("missed 0, extra 0") == 2 * 5  # caption and alt text, every sample
    matched = [int(n) for n in re.findall(r"photo #\d[^<]*?: MXNet \d+, converted \d+, matched (\d+)", page)]
    assert matched and min(matched) >= 1, "boxes found and matched on each photo"
    # Environment and hashes: the IR's own sha256 and the checkpoint's are on the page.
    assert sha256_file(xml) in page and sha256_file(synth_dir / "sshb-0000.params") in page
    assert "openvino" in page.lower()
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:|//)', page) and "<link" not in page and "<script" not in page


@pytest.mark.quick
def test_a_failing_verification_renders_as_fail_and_escapes_text(tmp_path):
    rng = np.random.default_rng(0)
    ref = rng.random((1, 4, 20, 20)).astype(np.float32)
    cand = ref + 0.5
    units = tolerance_units(ref, cand, atol=1e-4, rtol=1e-3)
    data = ReportData(
        title="t", passed=False, verdict="ir <mo> differs",
        rows=[OutputRow("ir <mo>", "rpn_cls_prob_reshape_stride32", (1, 4, 20, 20), 0.5, float(units.max()), 1e-4, 1e-3, False)],
        errors={"rpn_cls_prob_reshape_stride32": [("ir <mo>", units)]},
        environment={"python": "3.11"}, hashes={"x.xml": "ab" * 32},
    )  # fmt: skip
    page = render_html(data)
    assert 'class="verdict fail"' in page and "FAIL: ir &lt;mo&gt; differs" in page
    assert "<mo>" not in page, "text is escaped"
    assert "✗" in page and "ab" * 32 in page
    assert len(_embedded_images(page)) == 1


@pytest.mark.quick
def test_tolerance_units():
    ref = np.array([0.0, 1.0, -2.0, 10.0])
    cand = np.array([0.001, 1.0, -2.003, 10.02])
    units = tolerance_units(ref, cand, atol=1e-3, rtol=1e-3)
    assert units == pytest.approx([1.0, 0.0, 0.003 / 0.003, 0.02 / 0.011])
    assert tolerance_units(ref, ref + 1, atol=0.0, rtol=0.0)[0] == np.inf


@pytest.mark.quick
def test_boxes_of_a_resized_photo_are_drawn_on_the_photo_in_its_own_proportions():
    from PIL import Image

    from sshconv.detection.pictures import SAMPLE_WIDTH, overlay_jpeg

    tensor = np.zeros((1, 3, 64, 64), np.float32)  # a 256x128 photo squeezed into 64x64
    box = np.array([[128, 64, 192, 96, 0.9]], np.float32)  # in the photo's pixels
    img = Image.open(io.BytesIO(overlay_jpeg(tensor, box, box, scale=(64 / 128, 64 / 256)))).convert("RGB")
    assert img.size == (SAMPLE_WIDTH, SAMPLE_WIDTH // 2), "drawn back in the photo's proportions"
    k = SAMPLE_WIDTH / 256
    pixels = np.asarray(img).astype(int)
    assert pixels[int(80 * k), int(128 * k)].sum() > 150, "the box's left edge is where the face is"
    assert pixels[int(40 * k), int(40 * k)].sum() < 60 and pixels[int(80 * k), int(160 * k)].sum() < 60
