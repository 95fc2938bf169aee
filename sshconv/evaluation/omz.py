"""How the Open Model Zoo's accuracy checker measured the card's mAP, as sshconv reproduces it.

The card's WIDER FACE mAP (84.80 %) is what OMZ's accuracy checker printed for the IR with
the zoo's ssh-mxnet ``accuracy-check.yml``:

* every photo read as BGR and resized to 640 x 640 (bilinear, aspect ratio not kept);
* the ``retinaface`` adapter on the six card outputs: per stride, the face score and box of
  every anchor (SSH's anchors), the best ``keep_top_k`` (1000) by score, greedy NMS at 0.3
  with the +1 pixel convention; the three strides' survivors concatenated, no score
  threshold, no clipping, boxes divided by the resize scale;
* then the metric (:mod:`.metric`): boxes rounded to integers, annotation boxes clipped
  to 1024 and those outside heights 64..1024 (or empty) ignored, VOC mAP.

:func:`detections` is that adapter, computed in float64 as the adapter computes it (its
NMS is vectorised here, with the same arithmetic and the same greedy order).
:func:`accuracy_check_config` writes the configuration for ``accuracy_check`` itself, so
that anyone can measure an IR both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The zoo's accuracy-check.yml for ssh-mxnet, as numbers.
INPUT_SIZE = 640
KEEP_TOP_K = 1000
NMS_THRESHOLD = 0.3
CLIP_SIZE = 1024
HEIGHT_RANGE = (64, 1024)
OVERLAP_THRESHOLD = 0.5
#: The retinaface adapter's anchors for SSH: per stride, the scales of a 16-pixel base anchor.
ANCHOR_SCALES = {32: (32, 16), 16: (8, 4), 8: (2, 1)}
ANCHOR_BASE = 16
STRIDES = (32, 16, 8)


@dataclass(frozen=True)
class Heads:
    """Per stride, the names of its score and box outputs (model.yml's names)."""

    scores: tuple[str, ...]
    boxes: tuple[str, ...]

    @classmethod
    def of(cls, output_names: Sequence[str]) -> Heads:
        def named(prefix: str) -> tuple[str, ...]:
            return tuple(next(n for n in output_names if n.startswith(prefix) and n.endswith(f"stride{s}")) for s in STRIDES)

        return cls(named("rpn_cls_prob"), named("rpn_bbox_pred"))


def base_anchors(stride: int) -> np.ndarray:
    """The ``(A, 4)`` anchors of one stride at the first cell, in float64 as the adapter makes them."""
    base = np.array([1, 1, ANCHOR_BASE, ANCHOR_BASE], dtype=np.float64) - 1
    w, h = base[2] - base[0] + 1, base[3] - base[1] + 1
    cx, cy = base[0] + 0.5 * (w - 1), base[1] + 0.5 * (h - 1)
    ws = np.round(np.sqrt(np.array([w * h / 1.0])))  # one ratio, 1
    hs = np.round(ws * 1.0)
    scales = np.array(ANCHOR_SCALES[stride], dtype=np.float64)
    sw, sh = (ws[0] * scales)[:, None], (hs[0] * scales)[:, None]
    return np.hstack((cx - 0.5 * (sw - 1), cy - 0.5 * (sh - 1), cx + 0.5 * (sw - 1), cy + 0.5 * (sh - 1)))


_PLANES: dict[tuple[int, int, int], np.ndarray] = {}


def anchor_plane(height: int, width: int, stride: int) -> np.ndarray:
    """Every anchor of a ``height`` x ``width`` map, ``(H * W * A, 4)`` in (y, x, anchor) order; cached."""
    key = (height, width, stride)
    if key not in _PLANES:
        base = base_anchors(stride)
        sx = (np.arange(width) * stride).astype(np.float64)
        sy = (np.arange(height) * stride).astype(np.float64)
        shifts = np.stack(np.broadcast_arrays(sx[None, :], sy[:, None], sx[None, :], sy[:, None]), axis=-1)
        _PLANES[key] = (shifts[:, :, None, :] + base[None, None]).reshape(-1, 4)
    return _PLANES[key]


def bbox_pred(anchors: np.ndarray, deltas: np.ndarray) -> np.ndarray:
    """The adapter's box transform, in float64."""
    widths = anchors[:, 2] - anchors[:, 0] + 1.0
    heights = anchors[:, 3] - anchors[:, 1] + 1.0
    ctr_x = anchors[:, 0] + 0.5 * (widths - 1.0)
    ctr_y = anchors[:, 1] + 0.5 * (heights - 1.0)
    dx, dy, dw, dh = (deltas[:, i : i + 1] for i in range(4))
    pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
    pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
    with np.errstate(over="ignore"):
        pred_w = np.exp(dw) * widths[:, None]
        pred_h = np.exp(dh) * heights[:, None]
    out = np.zeros(deltas.shape)
    out[:, 0:1] = pred_ctr_x - 0.5 * (pred_w - 1.0)
    out[:, 1:2] = pred_ctr_y - 0.5 * (pred_h - 1.0)
    out[:, 2:3] = pred_ctr_x + 0.5 * (pred_w - 1.0)
    out[:, 3:4] = pred_ctr_y + 0.5 * (pred_h - 1.0)
    return out


def nms(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """The accuracy checker's NMS (``include_boundaries``, ``keep_top_k`` before suppression).

    ``boxes`` are the candidates, best score first (the checker's
    ``scores.argsort()[::-1][:keep_top_k]``); the best remaining one is kept and those
    overlapping it by more than ``threshold`` (same float64 arithmetic) dropped, until
    none remain. Returns the kept rows.
    """
    x1, y1, x2, y2 = (np.ascontiguousarray(boxes[:, i]) for i in range(4))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.arange(len(boxes))
    keep = []
    with np.errstate(divide="ignore", invalid="ignore"):
        while order.size > 0:
            i = order[0]
            keep.append(i)
            rest = order[1:]
            w = np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1
            h = np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1
            inter = np.maximum(w, 0.0) * np.maximum(h, 0.0)
            union = areas[i] + areas[rest] - inter
            overlap = inter / union
            overlap[union == 0] = 0.0  # the checker's np.divide(..., where=union != 0) leaves 0 there
            order = rest[overlap <= threshold]
    return np.array(keep, dtype=np.int64)


def detections(
    outputs: Mapping[str, np.ndarray], heads: Heads, scale_xy: tuple[float, float],
    keep_top_k: int = KEEP_TOP_K, nms_threshold: float = NMS_THRESHOLD,
) -> np.ndarray:  # fmt: skip
    """``(N, 5)`` float64 ``[x1, y1, x2, y2, score]`` in the original photo's pixels, as the adapter reports them.

    ``outputs`` are one photo's raw outputs (batch 1); ``scale_xy`` is network pixels per
    photo pixel (640 / width, 640 / height).
    """
    found_boxes, found_scores = [], []
    for score_name, box_name, stride in zip(heads.scores, heads.boxes, STRIDES):
        deltas = np.asarray(outputs[box_name])[0]
        anchors_per_cell = len(ANCHOR_SCALES[stride])
        height, width = deltas.shape[1], deltas.shape[2]
        scores = np.asarray(outputs[score_name])[0][anchors_per_cell:].transpose((1, 2, 0)).reshape(-1)
        deltas = deltas.transpose((1, 2, 0)).reshape(-1, deltas.shape[0] // anchors_per_cell)
        top = scores.argsort()[::-1][:keep_top_k]  # the checker's candidates, in its order
        boxes = bbox_pred(anchor_plane(height, width, stride)[top], deltas[top])  # row by row the same numbers
        keep = nms(boxes, nms_threshold)
        found_boxes.append(boxes[keep, :4])
        found_scores.append(scores[top][keep])
    boxes = np.concatenate(found_boxes)
    sx, sy = scale_xy
    out = np.empty((len(boxes), 5), dtype=np.float64)
    out[:, 0], out[:, 2] = boxes[:, 0] / sx, boxes[:, 2] / sx
    out[:, 1], out[:, 3] = boxes[:, 1] / sy, boxes[:, 3] / sy
    out[:, 4] = np.concatenate(found_scores)
    return out


def accuracy_check_config(model_name: str, bboxes: Sequence[str], scores: Sequence[str], execution: str | None = "f32") -> str:
    """The accuracy checker's configuration for this model, with :data:`INPUT_SIZE` and the other numbers above.

    For ``accuracy_check -c <file> -m <IR folder> -s <dataset> -a <annotations>``: the dataset
    folder holds ``images/``; the annotations folder is what ``convert_annotation wider``
    wrote there (``wider.pickle`` and ``wider.json``). ``execution`` pins the CPU plugin's
    inference precision as sshconv's runners do (``None``: the plugin's choice, bf16 where the
    CPU has it).
    """
    hint = f"\n        device_config:\n          INFERENCE_PRECISION_HINT: {execution}" if execution else ""

    def names(items: Sequence[str]) -> str:
        return "".join(f"\n            - {n}" for n in items)

    return f"""models:
  - name: {model_name}
    launchers:
      - framework: openvino
        device: CPU{hint}
        adapter:
          type: retinaface
          bboxes_outputs:{names(bboxes)}
          scores_outputs:{names(scores)}
          keep_top_k: {KEEP_TOP_K}
          nms_threshold: {NMS_THRESHOLD}
          include_boundaries: True
    datasets:
      - name: wider
        data_source: images
        annotation: wider.pickle
        dataset_meta: wider.json
        preprocessing:
          - type: resize
            size: {INPUT_SIZE}
        postprocessing:
          - type: cast_to_int
          - type: clip_boxes
            size: {CLIP_SIZE}
            apply_to: annotation
          - type: filter
            apply_to: annotation
            height_range: {HEIGHT_RANGE[0]}, {HEIGHT_RANGE[1]}
            is_empty: True
        metrics:
          - type: map
            ignore_difficult: True
            include_boundaries: True
"""


def write_accuracy_check_config(path: str | Path, model_name: str, bboxes: Sequence[str], scores: Sequence[str],
                                execution: str | None = "f32") -> Path:  # fmt: skip
    from ..fsutil import atomic_write_text

    return atomic_write_text(Path(path), accuracy_check_config(model_name, bboxes, scores, execution))
