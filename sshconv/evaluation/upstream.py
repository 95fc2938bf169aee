"""Upstream's test protocol (deepinsight/mxnet-SSH ``test_ssh.py``), the one behind its WIDER FACE Easy/Medium/Hard.

* ``upstream``: one scale a photo, the shorter side to 1200 pixels unless the longer would then
  pass 1600 (then the longer to 1600); aspect ratio kept (:func:`~sshconv.detection.fitting.upstream_scale`).
* ``upstream-pyramid``: the scale that brings the shorter side to 800 (longer at most 1200), times
  500/800, 800/800, 1200/800 and 1600/800; stride 32 is skipped at the largest scale.

At each scale the photo is resized (bilinear, to ``round(side * scale)``), run, and per stride
the best 1,000 anchors by face score are decoded, clipped to the scaled photo and divided by
the scale; the candidates of every stride and scale are pooled and one greedy NMS at 0.3 keeps
those at or above 0.05 (thresholding first keeps the same boxes: greedy NMS never lets a lower
score remove a higher one).
"""

from __future__ import annotations

import numpy as np

from ..detection.boxes import clip_boxes, nms
from ..detection.decode import NMS_THRESHOLD, PRE_NMS_TOP_N, stride_candidates
from ..detection.fitting import UPSTREAM_LONG, UPSTREAM_SHORT, upstream_scale
from ..model.shapes import MIN_SIDE

PYRAMID_SIZES = (500, 800, 1200, 1600)
PYRAMID_SHORT, PYRAMID_LONG = 800, 1200
SCORE_THRESHOLD = 0.05


def scales(height: int, width: int, protocol: str) -> list[float]:
    """The scales a ``height`` x ``width`` photo is run at under ``protocol`` (``upstream`` or ``upstream-pyramid``)."""
    if protocol == "upstream":
        return [upstream_scale(height, width)]
    base = PYRAMID_SHORT / min(height, width)
    if round(base * max(height, width)) > PYRAMID_LONG:
        base = PYRAMID_LONG / max(height, width)
    return [size / PYRAMID_SHORT * base for size in PYRAMID_SIZES]


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """The resized photo's (height, width), as OpenCV rounds ``side * scale``.

    A side is never under one stride-32 cell (:data:`~sshconv.model.shapes.MIN_SIDE`): only a photo
    more than 50 times longer than wide would need it, and boxes are still divided by ``scale``.
    """
    return max(MIN_SIDE, round(height * scale)), max(MIN_SIDE, round(width * scale))


def run_photo(runner, bgr: np.ndarray, heads, protocol: str) -> np.ndarray:
    """One photo through ``runner`` under ``protocol``: every scale run, the detections pooled (see the module)."""
    from ..detection.images import resize

    height, width = bgr.shape[:2]
    candidates, scores = [], []
    chosen = scales(height, width, protocol)
    for n, scale in enumerate(chosen):
        sh, sw = scaled_size(height, width, scale)
        tensor = np.ascontiguousarray(resize(bgr, sh, sw).transpose(2, 0, 1)[None].astype(np.float32))
        outputs = runner.infer(tensor)
        for stride, cls_name, box_name in heads:
            if len(chosen) > 1 and stride == 32 and n == len(chosen) - 1:
                continue
            found, face = stride_candidates(outputs, stride, cls_name, box_name, PRE_NMS_TOP_N, SCORE_THRESHOLD)
            if len(found):
                candidates.append(clip_boxes(found, sh, sw) / np.float32(scale))
                scores.append(face)
    if not candidates:
        return np.zeros((0, 5), dtype=np.float32)
    dets = np.hstack([np.vstack(candidates), np.concatenate(scores)[:, None]]).astype(np.float32)
    return dets[nms(dets, NMS_THRESHOLD)]


def settings(protocol: str) -> dict:
    """What the protocol's numbers depend on (part of an evaluation's identity)."""
    out = {"protocol": protocol, "pre_nms_top_n": PRE_NMS_TOP_N, "nms_threshold": NMS_THRESHOLD,
           "score_threshold": SCORE_THRESHOLD}  # fmt: skip
    if protocol == "upstream":
        out.update(short_side=UPSTREAM_SHORT, long_side_max=UPSTREAM_LONG)
    else:
        out.update(pyramid=list(PYRAMID_SIZES), short_side=PYRAMID_SHORT, long_side_max=PYRAMID_LONG,
                   stride_32_skipped_at_largest=True)  # fmt: skip
    return out
