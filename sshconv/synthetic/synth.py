"""A synthetic ``sshb`` checkpoint: the exact SSH architecture with seeded weights that find drawn faces.

The released weights cannot be fetched from a closed network, so the pipeline and its
tests run on this. It is made in three parts:

1. a designed part of the trunk (:mod:`.designed`): the first channels of every trunk
   layer carry colour, brightness and edge features of the picture to every stride;
2. the rest of the trunk, calibrated random: seeded He-init, each convolution scaled (in
   graph order, on a fixed sample image) so that its output has a standard deviation of
   about 1, as a trained network's activations have;
3. the detection modules and heads, trained on the designed channels to find the faces of
   ``sshconv photos`` with upstream's anchor assignment and losses (:mod:`.training`).

Training takes minutes, so its result is kept in the user cache, keyed by the seed and a hash
of what produces it (:func:`training_key`). Same seed, same bytes: weights come from seeded generators,
training is deterministic on one machine, and each calibration factor is rounded to a
power of 2**(1/8) so that last-bit differences in the sample pass cannot change them.
"""

from __future__ import annotations

import io
import logging
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import OutputError, first_line
from ..events import Emitter, EventHandler
from ..fsutil import atomic_path, atomic_write_bytes, atomic_write_text, ensure_dir, sha256_file
from ..model.checkpoint import PARAMS_FILE, SYMBOL_FILE
from ..model.spec import PACKAGED_MODEL_YML

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

log = logging.getLogger(__name__)

DEFAULT_SEED = 20171211
ARCHIVE_NAME = "ssh-model-final.zip"
#: The first line of every model.yml sshconv synth writes: how reports know the checkpoint is synthetic.
SYNTHETIC_MARK = "# Synthetic checkpoint made by `sshconv synth`"
MODEL_YML = "model.yml"
CALIBRATION_SIZE = 160
#: Target standard deviation of each random trunk convolution's output (before its ReLU).
TRUNK_STD = 1.0
#: Bumped when something outside training.py and designed.py changes what training makes (the photos it
#: learns from, the anchors): part of :func:`training_key`, so the cached training is then redone.
TRAINING_VERSION = 2
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


def _quantized(factor: float) -> float:
    return float(2.0 ** (round(math.log2(factor) * 8) / 8))


def random_weights(seed: int) -> dict[str, np.ndarray]:
    """Seeded He-init parameters for :func:`sshconv.network.build_symbol` (``arg:`` names), uncalibrated."""
    import numpy as np

    from ..model.network import build_symbol, parameter_shapes

    shapes = parameter_shapes(build_symbol())
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
    return params


def calibrate_trunk(params: dict[str, np.ndarray], seed: int) -> None:
    """Scale the random channels of every trunk and neck convolution to :data:`TRUNK_STD` on a sample (in place)."""
    import mxnet as mx
    import numpy as np

    from ..model.network import INPUT_NAME, build_symbol
    from ..model.spec import InputSpec
    from .designed import designed_rows

    mean = np.array(InputSpec().mean_values, np.float32).reshape(1, 3, 1, 1)
    # A smooth picture and uniform noise: the two ends of what verify feeds the network.
    noise = np.random.RandomState(seed ^ 0xBEEF).randint(0, 256, (1, 3, CALIBRATION_SIZE, CALIBRATION_SIZE))
    sample = np.concatenate([calibration_image(seed), noise.astype(np.float32)]) - mean  # RGB minus mean
    internals = build_symbol().get_internals()
    convs = [n[: -len("_output")] for n in internals.list_outputs() if n.endswith("_output")]
    convs = [c for c in convs if designed_rows(c)]
    # A fresh executor per layer: MXNet's CPU backend caches weights in its own
    # layout after a forward pass, so updating a bound executor in place is unsafe.
    for conv in convs:
        sub = internals[conv + "_output"]
        args = {n: mx.nd.array(params[n]) for n in sub.list_arguments() if n != INPUT_NAME}
        args[INPUT_NAME] = mx.nd.array(sample)
        out = sub.bind(mx.cpu(), args=args, grad_req="null").forward(is_train=False)[0].asnumpy()
        first = designed_rows(conv)
        std = float(out[:, first:].std()) or 1.0
        factor = np.float32(_quantized(TRUNK_STD / std))
        for key in (f"{conv}_weight", f"{conv}_bias"):
            params[key][first:] = (params[key][first:] * factor).astype(np.float32)
        log.debug("calibrated %s: std %.4g -> x%.4g", conv, std, factor)


def training_key(seed: int) -> str:
    """What a cached training is named by: 16 hex digits of a hash of what produces it.

    The code that trains (training.py, designed.py, read as bytes), its settings, the seed,
    :data:`TRAINING_VERSION` and MXNet's version: an edit of the training finds no cached
    result, so nobody has to remember to bump a number for it.
    """
    import hashlib
    import json

    from ..versions import package_version
    from .training import TrainSettings

    h = hashlib.sha256()
    for module in ("training.py", "designed.py"):
        h.update((Path(__file__).with_name(module)).read_bytes())
    facts = {"settings": TrainSettings().to_dict(), "seed": seed, "version": TRAINING_VERSION, "mxnet": package_version("mxnet")}
    h.update(json.dumps(facts, sort_keys=True).encode())
    return h.hexdigest()[:16]


def training_cache_path(cache_dir: Path, seed: int) -> Path:
    """Where the training for ``seed`` is kept in ``cache_dir``."""
    return Path(cache_dir) / "synthetic" / f"heads-{training_key(seed)}-seed{seed}.npz"


def trained_heads(
    seed: int, upsampling: np.ndarray, cache_dir: Path | None, on_event: EventHandler | None = None
) -> dict[str, np.ndarray]:
    """The trained modules and heads: from ``cache_dir`` if an intact earlier result is there, else trained (and kept)."""
    from .training import TrainSettings, train_heads

    path = None if cache_dir is None else training_cache_path(cache_dir, seed)
    if path is not None:
        cached = _read_cached(path)
        if cached is not None:
            Emitter("synth", on_event)("cached", item=str(path))
            return cached
    heads = train_heads(seed, upsampling, TrainSettings(), on_event)
    if path is not None:
        import numpy as np

        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.savez(f, **heads)
        except (OSError, OutputError) as exc:  # a cache that cannot be written costs time, not the result
            log.warning("could not keep the training in the cache %s: %s", path, first_line(exc))
    return heads


def _read_cached(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or ``None`` when missing, unreadable or not what training makes (then it is redone)."""
    import numpy as np

    from .training import head_symbol, initial_weights, input_shapes

    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            cached = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("ignoring the cached training %s: %s", path, exc)
        return None
    expected = {k: v.shape for k, v in initial_weights(head_symbol(), input_shapes(1), 0, 0.0).items()}
    if {k: v.shape for k, v in cached.items()} != expected or not all(
        v.dtype == np.float32 and np.isfinite(v).all() for v in cached.values()
    ):
        log.warning("ignoring the cached training %s: not the arrays training makes", path)
        return None
    return cached


def make_weights(
    seed: int = DEFAULT_SEED, cache_dir: Path | None = None, on_event: EventHandler | None = None
) -> dict[str, np.ndarray]:
    """The synthetic checkpoint's parameters (``arg:`` names): designed, calibrated random, trained."""
    from ..model.spec import InputSpec
    from .designed import install_heads, install_trunk

    params = random_weights(seed)
    install_trunk(params, InputSpec().mean_values)
    calibrate_trunk(params, seed)
    install_heads(params, trained_heads(seed, params["ssh_m2_red_upsampling_weight"], cache_dir, on_event))
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
        f"{SYNTHETIC_MARK}: the SSH architecture with seeded weights.\n"
        "# Same schema as the real model.yml; size and sha256 are those of the synthetic archive.\n"
    )
    return header + text


def is_synthetic(spec) -> bool:
    """``spec`` was read from the model.yml :func:`synthesize` wrote: its checkpoint is a synthetic one."""
    try:
        with open(spec.path, encoding="utf-8") as f:
            return f.readline().startswith(SYNTHETIC_MARK)
    except (OSError, UnicodeDecodeError, TypeError):
        return False


def synthesize(
    output_dir: str | Path, seed: int = DEFAULT_SEED, cache_dir: str | Path | None = None,
    use_cache: bool = True, on_event: EventHandler | None = None,
) -> SynthResult:  # fmt: skip
    """Write the symbol, params, upstream-layout zip and a matching model.yml into ``output_dir``.

    The trained part is read from (or kept in) ``cache_dir`` (default: the user cache) unless
    ``use_cache`` is false.
    """
    from ..model.network import build_symbol
    from ..places import default_cache_dir

    symbol = build_symbol()  # needs MXNet: says which extra to install before anything is written
    folder = ensure_dir(output_dir)
    cache = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) if use_cache else None
    emit = Emitter("synth", on_event)
    emit.start(item=str(folder))
    symbol_json = symbol.tojson().encode("utf-8")
    params = params_bytes(make_weights(seed, cache, on_event))
    archive = archive_bytes({SYMBOL_FILE: symbol_json, PARAMS_FILE: params})
    sym_path = atomic_write_bytes(folder / SYMBOL_FILE, symbol_json)
    params_path = atomic_write_bytes(folder / PARAMS_FILE, params)
    zip_path = atomic_write_bytes(folder / ARCHIVE_NAME, archive)
    sha = sha256_file(zip_path)
    yml = atomic_write_text(folder / MODEL_YML, synth_model_yml(len(archive), sha))
    emit("done", item=str(folder))
    return SynthResult(folder, sym_path, params_path, zip_path, yml, seed, sha, len(archive))
