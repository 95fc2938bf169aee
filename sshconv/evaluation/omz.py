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

:func:`detections` is that adapter, computed in float64 as the adapter computes it, boxes
only for the 1,000 candidates of each stride (the same numbers row by row).
:func:`accuracy_check_config` writes the configuration for ``accuracy_check`` itself, so
that anyone can measure an IR both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..detection.decode import NMS_THRESHOLD, PRE_NMS_TOP_N, anchor_grid, heads_of
from ..engines.plan import EXECUTION

#: The zoo's accuracy-check.yml for ssh-mxnet, as numbers. Its keep_top_k and NMS threshold
#: are upstream's test-code values, which the decoder (detection/decode.py) holds.
INPUT_SIZE = 640
KEEP_TOP_K = PRE_NMS_TOP_N
CLIP_SIZE = 1024
HEIGHT_RANGE = (64, 1024)
OVERLAP_THRESHOLD = 0.5
#: ``(stride, score output, box output)`` per head, as :func:`~sshconv.detection.decode.heads_of` gives them.
Heads = tuple[tuple[int, str, str], ...]

_PLANES: dict[tuple[int, int, int], np.ndarray] = {}


def anchor_plane(height: int, width: int, stride: int) -> np.ndarray:
    """Every anchor of a map, ``(H * W * A, 4)`` in (y, x, anchor) order, in float64 as the adapter holds them; cached.

    The decoder's float32 grid holds the same numbers exactly (integers and halves below 2^24).
    """
    key = (height, width, stride)
    if key not in _PLANES:
        _PLANES[key] = anchor_grid(height, width, stride).astype(np.float64)
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

    ``outputs`` are one photo's raw outputs (batch 1); ``heads`` from
    :func:`~sshconv.detection.decode.heads_of`, largest stride first as the adapter's output lists;
    ``scale_xy`` is network pixels per photo pixel (640 / width, 640 / height).
    """
    found_boxes, found_scores = [], []
    for stride, score_name, box_name in heads:
        deltas = np.asarray(outputs[box_name])[0]
        height, width = deltas.shape[1], deltas.shape[2]
        anchors_per_cell = len(anchor_plane(height, width, stride)) // (height * width)
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


def accuracy_check_config(
    model_name: str, bboxes: Sequence[str], scores: Sequence[str], execution: str | None = EXECUTION
) -> str:
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


def spec_heads(spec) -> Heads:
    """model.yml's heads, largest stride first (the order of the zoo's configuration)."""
    return tuple(sorted(heads_of(spec.outputs), reverse=True))


def write_accuracy_check_config(path: str | Path, model_name: str, bboxes: Sequence[str], scores: Sequence[str],
                                execution: str | None = EXECUTION) -> Path:  # fmt: skip
    from ..fsutil import atomic_write_text

    return atomic_write_text(Path(path), accuracy_check_config(model_name, bboxes, scores, execution))
