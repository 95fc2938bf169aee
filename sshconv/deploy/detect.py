"""Faces on real photos with the converted IR: what a deployment does with it.

Each photo (any size, any format Pillow reads) is fitted to the network input
(:mod:`sshconv.detection.fitting`: stretched to 640x640 as the Open Model Zoo's accuracy check
does, letterboxed, at upstream's test scale, as it is, or to a given size), run through the IR with OpenVINO, decoded with the library decoder
(:func:`sshconv.detection.decode.decode`), and its boxes are mapped back to the photo's own
pixels. Optionally the photo is written with boxes and scores drawn on it, and the
boxes as JSON beside it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..detection.fitting import DEFAULT_FIT
from ..engines.plan import EXECUTION
from ..errors import UsageError, param
from ..events import Emitter, EventHandler

if TYPE_CHECKING:  # numpy, the decoder and Pillow load only when photos are processed (`--help` stays light)
    import numpy as np

    from ..model.spec import ModelSpec

log = logging.getLogger(__name__)

#: OpenVINO execution precision for detection: exact FP32 unless asked otherwise.
#: A box keeps only if at least this fraction of it lies on the photo (not in letterbox padding).
MIN_INSIDE_FRACTION = 0.5
#: Colour (RGB) of the drawn boxes.
BOX_COLOR = (0, 255, 0)


@dataclass
class ImageDetections:
    """The faces found on one photo, in the photo's own pixel coordinates."""

    image: Path
    height: int
    width: int
    boxes: np.ndarray  # (N, 5): x1, y1, x2, y2, score
    drawn: Path | None = None
    boxes_json: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": str(self.image),
            "width": self.width,
            "height": self.height,
            "faces": [{"box": [round(float(v), 2) for v in b[:4]], "score": round(float(b[4]), 4)} for b in self.boxes],
            "drawn": str(self.drawn) if self.drawn else None,
            "boxes_json": str(self.boxes_json) if self.boxes_json else None,
        }


def boxes_json_text(found: ImageDetections) -> str:
    """The JSON of one photo's detections, one face per line (readable, diff-friendly)."""
    d = found.to_dict()
    faces = d.pop("faces")
    head = json.dumps(d, indent=2)[:-2]  # drop the closing "\n}"
    body = ",\n".join(f"    {json.dumps(f)}" for f in faces)
    return f'{head},\n  "faces": [\n{body}\n  ]\n}}\n' if faces else f'{head},\n  "faces": []\n}}\n'


def _check_options(images: Sequence[Path], out: Path | None, out_dir: Path | None, threshold: float, fit: str | None) -> None:
    if not images:
        raise UsageError("detect: give at least one IMAGE")
    if out is not None and out_dir is not None:
        raise UsageError(f"detect: pass {param('out')} (one image) or {param('out_dir')}, not both")
    if out is not None and out.is_dir():
        raise UsageError(f"detect: {param('out')} {out} is a folder; pass a file name (OUT.png) or use {param('out_dir')} {out}")
    if out is not None and len(images) > 1:
        raise UsageError(f"detect: {param('out')} writes one image but {len(images)} were given; use {param('out_dir')}")
    if not 0.0 < threshold <= 1.0:
        raise UsageError(f"detect: {param('threshold')} must be in (0, 1], got {threshold}")
    from ..detection.fitting import check_fit

    if fit is not None:
        check_fit(fit)


def _drawn_paths(images: Sequence[Path], out: Path | None, out_dir: Path | None) -> list[Path | None]:
    """Where each drawn photo goes: ``out`` as given, or ``DIR/<stem>.png`` (stems made unique)."""
    if out is not None:
        return [out]
    if out_dir is None:
        return [None] * len(images)
    seen: dict[str, int] = {}
    paths = []
    for img in images:
        n = seen.get(img.stem, 0) + 1
        seen[img.stem] = n
        stem = img.stem if n == 1 else f"{img.stem}-{n}"
        paths.append(out_dir / f"{stem}.png")
    return paths


def inside_photo(dets: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boxes clipped to the photo; a box mostly outside it (found in letterbox padding) is dropped."""
    import numpy as np

    clipped = dets.copy()
    clipped[:, [0, 2]] = np.clip(clipped[:, [0, 2]], 0, width - 1)
    clipped[:, [1, 3]] = np.clip(clipped[:, [1, 3]], 0, height - 1)

    def area(b: np.ndarray) -> np.ndarray:
        return np.maximum(0.0, b[:, 2] - b[:, 0] + 1) * np.maximum(0.0, b[:, 3] - b[:, 1] + 1)

    keep = area(clipped) >= MIN_INSIDE_FRACTION * area(dets)
    return clipped[keep]


def detect_faces(
    runner, bgr: np.ndarray, default_hw: tuple[int, int], threshold: float, fit: str = DEFAULT_FIT,
    max_faces: int | None = None,
) -> np.ndarray:  # fmt: skip
    """Boxes ``(N, 5)`` on one ``H x W x 3`` BGR photo, in its own pixels, best score first, with an open runner.

    ``fit`` is one of :mod:`~sshconv.detection.fitting`'s (``default_hw``: the network's default size, for
    ``resize`` and ``letterbox``); the runner reshapes to each new input size (once per size).
    """
    import numpy as np

    from ..detection.decode import DecodeConfig, decode
    from ..detection.fitting import fit_photo

    fitted = fit_photo(bgr, fit, default_hw)
    outputs = runner.infer(fitted.tensor)
    input_hw = fitted.tensor.shape[2:4]
    dets = decode(outputs, input_hw, DecodeConfig.for_spec(runner.spec, score_threshold=threshold), scale=fitted.scale)
    dets = inside_photo(dets, *fitted.original_hw)
    dets = dets[np.argsort(-dets[:, 4], kind="stable")]
    return dets if max_faces is None else dets[:max_faces]


def faces_on(runner, bgr: np.ndarray, threshold: float, max_faces: int | None = None) -> np.ndarray:
    """A faces artifact's boxes ``(N, 5)`` on one photo above ``threshold``, best first (its NMS already ran)."""
    import numpy as np

    dets = runner.faces(bgr)
    dets = inside_photo(dets[dets[:, 4] >= threshold], *bgr.shape[:2])
    dets = dets[np.argsort(-dets[:, 4], kind="stable")]
    return dets if max_faces is None else dets[:max_faces]


def _check_faces_options(path: Path, baked: dict, fit: str | None, threshold: float) -> None:
    if fit is not None:
        raise UsageError(
            f"detect: {path} fits frames itself ({baked.get('fit', 'none')}, fixed at conversion); drop {param('fit')}"
        )
    floor = float(baked.get("score_floor", 0.0))
    if threshold < floor:
        raise UsageError(f"detect: {path} drops faces under {floor:g} inside; pass {param('threshold')} >= {floor:g}")


def detect(
    images: Sequence[str | Path],
    ir: str | Path,
    out: str | Path | None = None,
    out_dir: str | Path | None = None,
    threshold: float | None = None,
    fit: str | None = None,
    max_faces: int | None = None,
    execution: str = EXECUTION,
    spec: ModelSpec | None = None,
    on_event: EventHandler | None = None,
) -> list[ImageDetections]:
    """Run the IR on every photo and return its faces; draw them when ``out``/``out_dir`` is given.

    Every photo is read before the model is loaded, so a bad file fails fast with an
    :class:`~sshconv.errors.InputError` naming it. With ``out`` (one photo) or
    ``out_dir``, each photo is written with its boxes drawn, and the boxes as JSON
    beside it (same name, ``.json``); both appear atomically. ``threshold`` defaults to
    the decoder's :data:`~sshconv.detection.decode.SCORE_THRESHOLD`. ``max_faces`` keeps only
    the best-scoring boxes (default: all above ``threshold``). ``ir`` may be a faces artifact (``--faces``):
    it fits, decodes and suppresses inside, so ``fit`` must be left out. ``spec`` (default: the
    packaged model.yml) gives the outputs' names and shapes. Progress goes to ``on_event``
    (stage ``detect``, one ``progress`` per photo).
    """
    from ..detection.decode import SCORE_THRESHOLD
    from ..detection.images import draw_boxes, load_bgr, save_bgr
    from ..engines import open_runner
    from ..engines.plan import model_engine, with_execution
    from ..fsutil import atomic_write_text, ensure_dir
    from ..runtimes.faces import FacesRunner, faces_file

    threshold = SCORE_THRESHOLD if threshold is None else threshold

    paths = [Path(p) for p in images]
    out = Path(out) if out is not None else None
    out_dir = Path(out_dir) if out_dir is not None else None
    if ir is None:
        raise UsageError(f"detect: pass the IR to run as {param('ir')}")
    _check_options(paths, out, out_dir, threshold, fit)
    if max_faces is not None and max_faces < 1:
        raise UsageError(f"detect: {param('max_faces')} must be >= 1, got {max_faces}")
    engine = with_execution(model_engine(ir, "ir"), execution)
    faces = faces_file(engine.path)
    if faces is not None:
        _check_faces_options(engine.path, faces, fit, threshold)
    pixels = [load_bgr(p) for p in paths]  # fail on a bad photo before loading the model
    targets = _drawn_paths(paths, out, out_dir)
    emit = Emitter("detect", on_event)
    emit.start(len(paths), "image")

    results = []
    with (open_runner(engine, spec) if faces is None else FacesRunner(engine.path, execution=execution)) as runner:
        input_hw = (int(runner.input_shape[2]), int(runner.input_shape[3])) if faces is None else None
        if out_dir is not None:  # only once the model is known good: a failed run creates nothing
            ensure_dir(out_dir)
        for i, (path, bgr, target) in enumerate(zip(paths, pixels, targets, strict=True)):
            if faces is None:
                dets = detect_faces(runner, bgr, input_hw, threshold, fit or DEFAULT_FIT, max_faces)
            else:
                dets = faces_on(runner, bgr, threshold, max_faces)
            found = ImageDetections(path, int(bgr.shape[0]), int(bgr.shape[1]), dets)
            if target is not None:
                found.drawn = save_bgr(draw_boxes(bgr, dets, BOX_COLOR), target)
                found.boxes_json = target.with_suffix(".json")
                atomic_write_text(found.boxes_json, boxes_json_text(found))
            log.info("%s: %d faces", path, len(dets))
            results.append(found)
            emit.progress(i + 1, len(paths), "image", item=str(path), faces=len(dets))
    emit("done", images=len(paths))
    return results
