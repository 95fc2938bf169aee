"""One worker: every engine loaded once, then photo after photo through all of them.

A photo arrives as its bytes (so a worker on another machine needs no dataset) with its
ground truth. The worker decodes it and, under the ``omz`` protocol, fits it to 640 x 640
as the accuracy checker does, runs each engine and turns the outputs into the adapter's
detections (:mod:`.omz`); under upstream's protocols it runs each engine at the photo's
scales (:mod:`.upstream`). It matches the detections with the faces (:mod:`.omz_map`),
keeps them as WIDER submission lines when asked (:mod:`.submission`), and compares each
engine's faces with MXNet's. What
it returns is small and plain (numbers, bytes, lists), ready for a pipe or Ray's store.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..detection.decode import SCORE_THRESHOLD
from ..engines import REFERENCE, Engine, open_runner
from . import omz, omz_map, upstream
from .submission import submission_lines

#: Photos in flight per worker (a process or a Ray actor): one running, one waiting, so no worker idles between photos.
IN_FLIGHT = 2
#: Boxes at or above this score are the "faces" of a photo for parity and pictures.
FACE_THRESHOLD = SCORE_THRESHOLD
#: A face is missed (or extra) only when it is clearly above the threshold on one side, by
#: this much, and the other side has no box within this much of the threshold on it (IoU >= 0.5):
#: a score near 0.5 may fall either way.
PARITY_SLACK = 0.05
#: Boxes kept per engine and photo for the worst-photo pictures.
KEPT_BOXES = 50


@dataclass(frozen=True)
class Method:
    """How photos become detections (``protocol``) and whether the WIDER submission lines are kept (``wider``)."""

    protocol: str = "omz"
    wider: bool = False


@dataclass(frozen=True)
class PhotoTask:
    index: int  # position in the ground-truth file
    path: str  # relative to images/
    data: bytes  # the file's bytes
    faces: tuple[tuple[int, int, int, int], ...]  # x, y, w, h


class Worker:
    """Every engine of ``engines`` active at once; :meth:`run` evaluates one photo with all of them.

    ``threads`` caps each engine's threads (OpenVINO's ``INFERENCE_NUM_THREADS``; MXNet's
    ``OMP_NUM_THREADS`` must be set before MXNet loads, which the pool does), so that
    several workers share a machine; ``None``: every core.
    """

    def __init__(self, engines: Sequence[Engine], spec=None, threads: int | None = None, method: Method | None = None) -> None:
        from ..runtimes.base import default_spec

        self.method = method or Method()
        self.engines = list(engines)
        self.spec = spec or default_spec()
        self.threads = threads
        self.heads = omz.spec_heads(self.spec)
        self._runners: list[tuple[str, Any]] = []

    def __enter__(self) -> Worker:
        try:
            for e in self.engines:
                runner = open_runner(e, self.spec, threads=self.threads)
                runner.activate()
                self._runners.append((e.label, runner))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for _, runner in self._runners:
            runner.deactivate()
        self._runners = []

    def run(self, task: PhotoTask) -> dict[str, Any]:
        from ..detection.images import fit_to_network, load_bgr
        from ..detection.match import match_detections

        start = time.perf_counter()
        bgr = load_bgr(task.path, task.data)
        if self.method.protocol == "omz":
            height, width = self.spec.input.shape[2:]
            fitted = fit_to_network(bgr, height, width)
            scale_xy = (fitted.scale[1], fitted.scale[0])
        truth = omz_map.annotation(task.faces)
        found: dict[str, dict[str, Any]] = {}
        faces: dict[str, np.ndarray] = {}
        for label, runner in self._runners:
            t0 = time.perf_counter()
            if self.method.protocol == "omz":
                outputs = runner.infer(fitted.tensor)
                inference = time.perf_counter() - t0
                dets = omz.detections(outputs, self.heads, scale_xy)
            else:  # every scale's resize, inference and decoding: upstream's cost per photo
                dets = upstream.run_photo(runner, bgr, self.heads, self.method.protocol)
                inference = time.perf_counter() - t0
            matched = omz_map.match_photo(dets, truth)
            near = dets[dets[:, 4] >= FACE_THRESHOLD - PARITY_SLACK]
            faces[label] = near
            top = near[np.argsort(-near[:, 4], kind="stable")][:KEPT_BOXES]
            found[label] = {
                "seconds": inference,
                "scores": matched.scores.astype(np.float64).tobytes(),
                "positive": np.packbits(matched.positive).tobytes(),
                "rows": len(matched.scores),
                "boxes": np.round(top, 2).tolist(),
            }
            if self.method.wider:
                order = np.argsort(-dets[:, 4], kind="stable")
                found[label]["wider"] = zlib.compress(submission_lines(dets[order]).encode())
        if REFERENCE in faces:
            for label, near in faces.items():
                if label != REFERENCE:
                    p = match_detections(faces[REFERENCE], near, score_threshold=FACE_THRESHOLD, slack=PARITY_SLACK)
                    found[label]["parity"] = [p.matched, p.missed, p.extra]
        seconds = time.perf_counter() - start
        return {"index": task.index, "path": task.path, "faces": truth.counted, "seconds": seconds, "engines": found}


def unpack_rows(found: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """An engine's counted detections of one photo, as the worker packed them: scores and kinds."""
    scores = np.frombuffer(found["scores"], dtype=np.float64)
    positive = np.unpackbits(np.frombuffer(found["positive"], dtype=np.uint8))[: len(scores)].astype(bool)
    return scores, positive
