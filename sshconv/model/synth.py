"""A synthetic ``sshb`` checkpoint: the exact SSH architecture with seeded, calibrated weights.

The released weights cannot be fetched from a closed network, so the pipeline and
its tests run on this. Plain He-init would give saturated softmax and box deltas in
the hundreds, so tolerances tuned on it would mean nothing. Instead every
convolution is scaled, in graph order, on a fixed sample image so that its output
has a chosen spread: O(1) in the trunk, class logits spread so that face
probabilities cover (0, 1), box deltas mostly within +-3, as a trained detector's.

Same seed, same bytes: weights come from NumPy's seeded generator, and each
calibration factor is rounded to a power of 2**(1/8) so that last-bit differences in
the sample forward pass cannot change them.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..fsutil import atomic_write_bytes, atomic_write_text, ensure_dir, sha256_file
from .checkpoint import PARAMS_FILE, SYMBOL_FILE
from .spec import PACKAGED_MODEL_YML

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_SEED = 20171211
ARCHIVE_NAME = "ssh-model-final.zip"
MODEL_YML = "model.yml"
CALIBRATION_SIZE = 160
#: Target standard deviation of each convolution's output (before its ReLU).
TRUNK_STD = 1.0
CLS_STD = 1.0
BBOX_STD = 0.8
#: Like a trained detector's, most anchors are background: the background logits get a
#: bias such that this fraction of the calibration sample's anchors score above 0.5.
FACE_FRACTION = 0.02
_ZIP_DATE = (2018, 1, 1, 0, 0, 0)


@dataclass
class SynthResult:
    folder: Path
    symbol: Path
    params: Path
    archive: Path
    model_yml: Path
    seed: int
    archive_sha256: str
    archive_size: int


def calibration_image(seed: int, size: int = CALIBRATION_SIZE) -> np.ndarray:
    """A smooth image with face-sized blobs (1x3xSxS, RGB 0..255) for calibrating activations."""
    import numpy as np

    rng = np.random.RandomState(seed ^ 0x5EED)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.zeros((3, size, size), np.float32)
    for c in range(3):
        img[c] = 128 + 60 * np.sin(2 * np.pi * (rng.rand() * 3 * xx + rng.rand() * 3 * yy + rng.rand()))
    for _ in range(8):
        cy, cx, r = rng.rand() * size, rng.rand() * size, (0.05 + 0.15 * rng.rand()) * size
        mask = ((yy * size - cy) ** 2 + (xx * size - cx) ** 2) < r * r
        img[:, mask] = rng.rand(3, 1) * 255
    img += rng.randn(3, size, size).astype(np.float32) * 12
    return np.clip(img, 0, 255)[None]


def _bilinear_kernel(channels: int, k: int = 4) -> np.ndarray:
    import numpy as np

    factor = (k + 1) // 2
    center = factor - 1 if k % 2 == 1 else factor - 0.5
    og = np.ogrid[:k, :k]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    return np.tile(filt.astype(np.float32), (channels, 1, 1, 1))


def _target_std(name: str) -> float:
    if name.startswith("rpn_cls_score"):
        return CLS_STD
    if name.startswith("rpn_bbox_pred"):
        return BBOX_STD
    return TRUNK_STD


def _quantized(factor: float) -> float:
    return float(2.0 ** (round(math.log2(factor) * 8) / 8))


def make_weights(seed: int = DEFAULT_SEED) -> dict[str, np.ndarray]:
    """Seeded, calibrated parameters for :func:`sshconv.network.build_symbol` (``arg:`` names)."""
    import mxnet as mx
    import numpy as np

    from .network import INPUT_NAME, build_symbol, parameter_shapes
    from .spec import NUM_ANCHORS, InputSpec

    symbol = build_symbol()
    shapes = parameter_shapes(symbol)
    rng = np.random.RandomState(seed)
    params: dict[str, np.ndarray] = {}
    for name in sorted(shapes):  # sorted: the draw order must not depend on graph internals
        shape = shapes[name]
        if name == "ssh_m2_red_upsampling_weight":
            params[name] = _bilinear_kernel(shape[0], shape[2])
        elif name.endswith("_weight"):
            fan_in = int(np.prod(shape[1:]))
            params[name] = (rng.randn(*shape) * math.sqrt(2.0 / fan_in)).astype(np.float32)
        else:
            params[name] = (rng.randn(*shape) * 0.1).astype(np.float32)

    mean = np.array(InputSpec().mean_values, np.float32).reshape(1, 3, 1, 1)
    # A smooth picture and uniform noise: the two ends of what verify feeds the network.
    noise = np.random.RandomState(seed ^ 0xBEEF).randint(0, 256, (1, 3, CALIBRATION_SIZE, CALIBRATION_SIZE))
    sample = np.concatenate([calibration_image(seed), noise.astype(np.float32)]) - mean  # RGB minus mean
    internals = symbol.get_internals()
    convs = [
        n[: -len("_output")]
        for n in internals.list_outputs()
        if f"{n[: -len('_output')]}_weight" in shapes and n.endswith("_output")
    ]
    convs = [c for c in convs if c != "ssh_m2_red_upsampling"]
    # A fresh executor per layer: MXNet's CPU backend caches weights in its own
    # layout after a forward pass, so updating a bound executor in place is unsafe.
    for conv in convs:
        sub = internals[conv + "_output"]
        args = {n: mx.nd.array(params[n]) for n in sub.list_arguments() if n != INPUT_NAME}
        args[INPUT_NAME] = mx.nd.array(sample)
        out = sub.bind(mx.cpu(), args=args, grad_req="null").forward(is_train=False)[0].asnumpy()
        std = float(out.std()) or 1.0
        factor = _quantized(_target_std(conv) / std)
        for key in (f"{conv}_weight", f"{conv}_bias"):
            params[key] = (params[key] * np.float32(factor)).astype(np.float32)
        if conv.startswith("rpn_cls_score"):  # channels [0, A) are background, [A, 2A) face
            margin = (out[:, NUM_ANCHORS:] - out[:, :NUM_ANCHORS]) * factor
            shift = round(float(np.quantile(margin, 1 - FACE_FRACTION)) * 8) / 8
            params[f"{conv}_bias"][:NUM_ANCHORS] += np.float32(shift)
        log.debug("calibrated %s: std %.4g -> x%.4g", conv, std, factor)
    return params


def params_bytes(params: dict[str, np.ndarray]) -> bytes:
    """Serialize ``params`` in MXNet's ``.params`` format (``arg:`` prefixed), deterministically."""
    import os
    import tempfile

    import mxnet as mx

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "p.params")
        mx.nd.save(path, {f"arg:{k}": mx.nd.array(params[k], dtype="float32") for k in sorted(params)})
        with open(path, "rb") as f:
            return f.read()


def archive_bytes(members: dict[str, bytes]) -> bytes:
    """A zip in the upstream archive layout, with fixed timestamps so it is reproducible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])
    return buf.getvalue()


def synth_model_yml(archive_size: int, archive_sha256: str, template: Path = PACKAGED_MODEL_YML) -> str:
    """The packaged model.yml with the synthetic archive's size and checksum put in."""
    import re

    text = template.read_text(encoding="utf-8")
    text, n1 = re.subn(r"(?m)^(\s*size:\s*)\d+", lambda m: f"{m.group(1)}{archive_size}", text, count=1)
    text, n2 = re.subn(r"(?m)^(\s*sha256:\s*)[0-9a-fA-F]{64}", lambda m: f"{m.group(1)}{archive_sha256}", text, count=1)
    assert n1 == n2 == 1, "packaged model.yml lost its size/sha256 lines"
    header = (
        "# Synthetic checkpoint made by `sshconv synth`: the SSH architecture with seeded weights.\n"
        "# Same schema as the real model.yml; size and sha256 are those of the synthetic archive.\n"
    )
    return header + text


def synthesize(output_dir: str | Path, seed: int = DEFAULT_SEED) -> SynthResult:
    """Write the symbol, params, upstream-layout zip and a matching model.yml into ``output_dir``."""
    from .network import build_symbol

    symbol = build_symbol()  # needs MXNet: says which extra to install before anything is written
    folder = ensure_dir(output_dir)
    symbol_json = symbol.tojson().encode("utf-8")
    params = params_bytes(make_weights(seed))
    archive = archive_bytes({SYMBOL_FILE: symbol_json, PARAMS_FILE: params})
    sym_path = atomic_write_bytes(folder / SYMBOL_FILE, symbol_json)
    params_path = atomic_write_bytes(folder / PARAMS_FILE, params)
    zip_path = atomic_write_bytes(folder / ARCHIVE_NAME, archive)
    sha = sha256_file(zip_path)
    yml = atomic_write_text(folder / MODEL_YML, synth_model_yml(len(archive), sha))
    return SynthResult(folder, sym_path, params_path, zip_path, yml, seed, sha, len(archive))
