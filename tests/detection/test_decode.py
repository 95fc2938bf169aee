"""The decoder against formulas transcribed from upstream mxnet-SSH (test_ssh.py, rcnn/processing): NumPy only."""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.detection.boxes import apply_deltas, nms
from sshconv.detection.decode import DecodeConfig, anchor_grid, base_anchors, decode
from sshconv.model.spec import default_outputs

pytestmark = pytest.mark.quick

# --------------------------------------------------------------------------- upstream, transcribed


def up_anchors(base_size, ratios, scales):
    """rcnn/processing/generate_anchor.py: generate_anchors (ratio enumeration, then scales)."""

    def whctrs(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def mk(ws, hs, x, y):
        ws, hs = ws[:, None], hs[:, None]
        return np.hstack((x - 0.5 * (ws - 1), y - 0.5 * (hs - 1), x + 0.5 * (ws - 1), y + 0.5 * (hs - 1)))

    base = np.array([1, 1, base_size, base_size]) - 1
    w, h, x, y = whctrs(base)
    ws = np.round(np.sqrt(w * h / np.array(ratios)))
    ratio_anchors = mk(ws, np.round(ws * np.array(ratios)), x, y)
    out = []
    for a in ratio_anchors:
        w, h, x, y = whctrs(a)
        out.append(mk(w * np.array(scales), h * np.array(scales), x, y))
    return np.vstack(out)


UPSTREAM_ANCHOR_CFG = {32: (32, 16), 16: (8, 4), 8: (2, 1)}  # rcnn/config.py RPN_ANCHOR_CFG, base size 16, ratio 1


def up_plane(h, w, stride, base):
    """rcnn/cython/anchors.pyx: anchors_plane, (H, W, A, 4)."""
    out = np.zeros((h, w, len(base), 4), np.float32)
    for iy in range(h):
        for ix in range(w):
            out[iy, ix] = base + np.array([ix * stride, iy * stride, ix * stride, iy * stride])
    return out


def up_nonlinear_pred(boxes, d):
    """rcnn/processing/bbox_transform.py: nonlinear_pred."""
    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    cx, cy = boxes[:, 0] + 0.5 * (widths - 1.0), boxes[:, 1] + 0.5 * (heights - 1.0)
    px, py = d[:, 0] * widths + cx, d[:, 1] * heights + cy
    pw, ph = np.exp(d[:, 2]) * widths, np.exp(d[:, 3]) * heights
    return np.stack([px - 0.5 * (pw - 1.0), py - 0.5 * (ph - 1.0), px + 0.5 * (pw - 1.0), py + 0.5 * (ph - 1.0)], 1)


def up_nms(dets, thresh):
    """rcnn/processing/nms.py: py_nms (areas and overlaps with the +1 convention)."""
    x1, y1, x2, y2, scores = dets.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1, yy1 = np.maximum(x1[i], x1[order[1:]]), np.maximum(y1[i], y1[order[1:]])
        xx2, yy2 = np.minimum(x2[i], x2[order[1:]]), np.minimum(y2[i], y2[order[1:]])
        inter = np.maximum(0.0, xx2 - xx1 + 1) * np.maximum(0.0, yy2 - yy1 + 1)
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thresh)[0] + 1]
    return keep


def up_detect(outputs, hw, threshold, top_n=1000, nms_thresh=0.3, image=0):
    """test_ssh.py: SSHDetector.detect at one scale: per stride the best top_n anchors, NMS, then the threshold."""
    props, scores = [], []
    for s in (32, 16, 8):
        sc = outputs[f"rpn_cls_prob_reshape_stride{s}"][image : image + 1, 2:, :, :]
        deltas = outputs[f"rpn_bbox_pred_stride{s}"][image : image + 1]
        h, w = deltas.shape[2:]
        sc = sc[:, :, :h, :w]  # _clip_pad: the class map cut to the box map's size
        anchors = up_plane(h, w, s, up_anchors(16, [1.0], UPSTREAM_ANCHOR_CFG[s]).astype(np.float32)).reshape(-1, 4)
        d = deltas.transpose(0, 2, 3, 1).reshape(-1, 4)
        sc = sc.transpose(0, 2, 3, 1).reshape(-1, 1)
        p = up_nonlinear_pred(anchors, d)
        p[:, 0::2] = np.clip(p[:, 0::2], 0, hw[1] - 1)
        p[:, 1::2] = np.clip(p[:, 1::2], 0, hw[0] - 1)
        order = sc.ravel().argsort()[::-1][:top_n]
        props.append(p[order])
        scores.append(sc[order])
    p, sc = np.vstack(props), np.vstack(scores)
    order = sc.ravel().argsort()[::-1]
    det = np.hstack((p[order], sc[order])).astype(np.float32)
    det = det[up_nms(det, nms_thresh)]
    return det[det[:, 4] >= threshold]


# --------------------------------------------------------------------------- the decoder against it


@pytest.mark.parametrize("stride", [32, 16, 8])
def test_anchors_are_upstreams(stride):
    np.testing.assert_array_equal(base_anchors(stride), up_anchors(16, [1.0], UPSTREAM_ANCHOR_CFG[stride]))
    h, w = 3, 5
    np.testing.assert_array_equal(anchor_grid(h, w, stride), up_plane(h, w, stride, base_anchors(stride)).reshape(-1, 4))


def test_delta_decoding_is_upstreams_nonlinear_pred():
    rng = np.random.default_rng(0)
    boxes = anchor_grid(4, 4, 16)
    deltas = rng.normal(0, 0.5, boxes.shape).astype(np.float32)
    np.testing.assert_allclose(apply_deltas(boxes, deltas), up_nonlinear_pred(boxes, deltas), rtol=1e-6, atol=1e-4)


def test_nms_is_upstreams_with_the_plus_one_convention():
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (300, 2))
    wh = rng.uniform(1, 40, (300, 2))
    dets = np.hstack([xy, xy + wh, rng.uniform(0, 1, (300, 1))]).astype(np.float32)
    assert list(nms(dets, 0.3)) == up_nms(dets, 0.3)
    # Two 10x10 boxes (the +1 convention: x2 - x1 + 1 = 10) overlapping by 5 columns: IoU 50/150.
    pair = np.array([[0, 0, 9, 9, 0.9], [5, 0, 14, 9, 0.8]], np.float32)
    assert list(nms(pair, 0.34)) == [0, 1] and list(nms(pair, 0.33)) == [0]


def _outputs(rng, hot_stride8: int = 0, hw=(640, 640), batch: int = 1, pad: int = 0):
    """Random outputs of an ``hw`` input's shapes; ``hot_stride8`` stride-8 anchors score above 0.05 (the rest below).

    ``pad`` makes every class map that many rows and columns larger than its box map (what ``_clip_pad`` cuts off).
    """
    outs = {}
    for o in default_outputs(*hw):
        shape = (batch, o.shape[1], o.shape[2] + pad, o.shape[3] + pad) if o.family == "cls_prob" else (batch, *o.shape[1:])
        if o.family == "cls_prob":
            face = rng.uniform(0.0, 0.04, (batch, 2, *shape[2:])).astype(np.float32)
            if o.stride == 8 and hot_stride8:
                flat = face.reshape(-1)
                flat[rng.choice(flat.size, hot_stride8, replace=False)] = rng.uniform(0.05, 1.0, hot_stride8)
            outs[o.name] = np.concatenate([1 - face, face], axis=1)
        else:
            outs[o.name] = rng.normal(0, 0.3, shape).astype(np.float32)
    return outs


def test_pre_nms_top_1000_per_stride_as_upstream():
    """1,561 stride-8 anchors above 0.05: upstream NMS's only the 1,000 best; so does the decoder."""
    outs = _outputs(np.random.default_rng(2), hot_stride8=1561)
    ours = decode(outs, (640, 640), DecodeConfig(score_threshold=0.05))
    theirs = up_detect(outs, (640, 640), 0.05)
    theirs = theirs[(theirs[:, 2] > theirs[:, 0]) & (theirs[:, 3] > theirs[:, 1])]
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-3)
    without_top_k = decode(outs, (640, 640), DecodeConfig(score_threshold=0.05, pre_nms_top_n=10**9))
    assert len(without_top_k) > len(ours), "the top-k changes the result here: the test can tell"


def test_boxes_clipped_to_nothing_are_not_faces():
    """An anchor at the right edge whose box is pushed off the picture clips to x1 == x2: dropped."""
    outs = _outputs(np.random.default_rng(3))
    prob = outs["rpn_cls_prob_reshape_stride16"]
    prob[0, 2, 20, 39], prob[0, 0, 20, 39] = 0.9, 0.1  # anchor 0 of the last column
    outs["rpn_bbox_pred_stride16"][0, 0:4, 20, 39] = [3.0, 0.0, -2.0, 0.0]  # shifted 3 widths right, narrowed
    dets = decode(outs, (640, 640), DecodeConfig(score_threshold=0.5))
    theirs = up_detect(outs, (640, 640), 0.5)
    assert len(theirs) == 1 and theirs[0, 0] == theirs[0, 2] == 639, "upstream reports a zero-width face"
    assert len(dets) == 0


@pytest.mark.parametrize("hw", [(481, 777), (720, 1280), (33, 65), (648, 648)])
def test_any_frame_size_decodes_as_upstream_over_the_real_feature_maps(hw):
    """Sizes no multiple of 8 or 16: anchors over each stride's actual map, the class map cut to it, boxes clipped to the frame."""
    rng = np.random.default_rng(hw[0])
    outs = _outputs(rng, hot_stride8=min(400, default_outputs(*hw)[4].shape[2] * default_outputs(*hw)[4].shape[3]),
                    hw=hw, pad=1)  # fmt: skip
    ours = decode(outs, hw, DecodeConfig(score_threshold=0.05))
    theirs = up_detect(outs, hw, 0.05)
    theirs = theirs[(theirs[:, 2] > theirs[:, 0]) & (theirs[:, 3] > theirs[:, 1])]
    assert len(ours) > 0
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-3)
    assert ours[:, 2].max() <= hw[1] - 1 and ours[:, 3].max() <= hw[0] - 1
    # Read without the cut, the padded class map would shift every score by a row: the test can tell.
    shifted = {k: (v[:, :, 1:, 1:] if "cls" in k else v) for k, v in outs.items()}
    assert not np.array_equal(decode(shifted, hw, DecodeConfig(score_threshold=0.05)), ours)


def test_each_image_of_a_batch_decodes_as_that_image_alone():
    from sshconv.detection.decode import decode_batch

    hw = (481, 777)
    outs = _outputs(np.random.default_rng(7), hot_stride8=300, hw=hw, batch=3)
    per_image = decode_batch(outs, hw, DecodeConfig(score_threshold=0.05), scales=[1.0, 0.5, (2.0, 1.0)])
    assert len(per_image) == 3
    for i, dets in enumerate(per_image):
        alone = {k: v[i : i + 1] for k, v in outs.items()}
        scale = [1.0, 0.5, (2.0, 1.0)][i]
        np.testing.assert_array_equal(dets, decode(alone, hw, DecodeConfig(score_threshold=0.05), scale))
        theirs = up_detect(outs, hw, 0.05, image=i)
        theirs = theirs[(theirs[:, 2] > theirs[:, 0]) & (theirs[:, 3] > theirs[:, 1])]
        sy, sx = (scale, scale) if np.isscalar(scale) else scale
        np.testing.assert_allclose(dets[:, :4], theirs[:, :4] / [sx, sy, sx, sy], rtol=1e-6, atol=1e-3)
    assert not np.array_equal(per_image[0], per_image[1])
