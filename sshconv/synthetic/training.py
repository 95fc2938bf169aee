"""Training the synthetic checkpoint's detection modules and heads to find drawn faces.

What is trained: the three SSH detection modules (M1/M2/M3) and the six 1x1 heads, on the
designed trunk channels (:mod:`.designed`), whose values for a fixed pool of generated
photos are computed once. How, as upstream mxnet-SSH trains its RPN heads:

* photos fitted to 640x640 as ``detect`` fits them (OpenCV-exact bilinear resize);
* anchors assigned over all strides at once (``assign_anchor_fpn``): IoU >= 0.5 face,
  < 0.3 background, else ignored; box targets are the R-CNN deltas of the best-overlapping
  face; unlike upstream, anchors that cross the picture's edge are assigned at every stride
  (see :data:`ALLOWED_BORDER`);
* per stride and image, online hard example mining (``RPN_ENABLE_OHEM = 2``): at most 64
  faces, the hardest ones, then the hardest backgrounds up to 256 anchors;
* softmax cross-entropy normalised by the anchors kept, and smooth L1 (sigma 3) on the
  deltas of face anchors scaled by 1/256.

Upstream uses SGD for days on a GPU; here Adam with a cosine learning-rate decay gets a
usable detector in a few minutes on two CPU cores. Everything is seeded; MXNet's CPU
kernels give the same numbers run after run on one machine.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from ..events import Emitter, EventHandler
from ..model.spec import NUM_ANCHORS, STRIDES
from .designed import MODULE_INPUTS, FeatureExtractor

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

SIZE = 640
#: How far past the picture's edge an anchor may reach and still be assigned (farther: ignored).
#: Upstream allows 512 px at stride 32 but none at 16 and 8; with a few hundred training photos
#: that left the border anchors of strides 16 and 8 untrained, and they fired on textured edges.
ALLOWED_BORDER = {32: 512, 16: 512, 8: 512}
POSITIVE_IOU = 0.5
NEGATIVE_IOU = 0.3
ANCHORS_PER_IMAGE = 256
MAX_FACES_PER_IMAGE = 64
SMOOTH_L1_SIGMA = 3.0
#: Module name, filters, stride.
MODULES = (("ssh_m3_det", 256, 32), ("ssh_m2_det", 256, 16), ("ssh_m1_det", 128, 8))


@dataclass(frozen=True)
class TrainSettings:
    photos: int = 300
    steps: int = 1300
    batch: int = 2
    learning_rate: float = 1.5e-3
    weight_decay: float = 1e-4
    #: Initial background bias of the class heads: every anchor starts at face probability ~0.02.
    prior_logit: float = 4.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Sample:
    features: dict  # stride -> the designed input of that stride's module
    targets: dict  # stride -> (labels (A, H, W), box targets (4A, H, W))


def fitted_photo(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A generated photo fitted to 640x640 as ``detect`` fits it, as RGB ``(1, 3, H, W)`` float32 0..255, and its face boxes."""
    import numpy as np

    from ..dataset.photos import photo_bgr
    from ..detection.images import resize_linear

    bgr, faces = photo_bgr(rng)
    h, w = bgr.shape[:2]
    sx, sy = SIZE / w, SIZE / h
    pixels = resize_linear(bgr, SIZE, SIZE)[:, :, ::-1]  # fitted in BGR like detect, then RGB
    boxes = np.array([[f.x * sx, f.y * sy, (f.x + f.w) * sx - 1, (f.y + f.h) * sy - 1] for f in faces], np.float32)
    return pixels.transpose(2, 0, 1)[None].astype(np.float32), boxes.reshape(-1, 4)


def box_deltas(anchors: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """The (dx, dy, dw, dh) that :func:`sshconv.detection.boxes.apply_deltas` turns ``anchors`` into ``boxes`` with."""
    import numpy as np

    aw, ah = anchors[:, 2] - anchors[:, 0] + 1.0, anchors[:, 3] - anchors[:, 1] + 1.0
    bw, bh = boxes[:, 2] - boxes[:, 0] + 1.0, boxes[:, 3] - boxes[:, 1] + 1.0
    acx, acy = anchors[:, 0] + 0.5 * (aw - 1), anchors[:, 1] + 0.5 * (ah - 1)
    bcx, bcy = boxes[:, 0] + 0.5 * (bw - 1), boxes[:, 1] + 0.5 * (bh - 1)
    return np.stack([(bcx - acx) / aw, (bcy - acy) / ah, np.log(bw / aw), np.log(bh / ah)], axis=1).astype(np.float32)


def anchor_targets(boxes: np.ndarray, size: int = SIZE) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Upstream's anchor assignment over all strides: per stride, labels (A, H, W) in {-1, 0, 1} and deltas (4A, H, W)."""
    import numpy as np

    from ..detection.boxes import iou_matrix
    from ..detection.decode import anchor_grid

    grids, inside = [], []
    for s in STRIDES:
        a = anchor_grid(size // s, size // s, s)
        b = ALLOWED_BORDER[s]
        inside.append((a[:, 0] >= -b) & (a[:, 1] >= -b) & (a[:, 2] < size + b) & (a[:, 3] < size + b))
        grids.append(a)
    anchors, keep = np.concatenate(grids), np.flatnonzero(np.concatenate(inside))
    labels = np.full(len(anchors), -1, np.float32)
    deltas = np.zeros((len(anchors), 4), np.float32)
    if len(boxes):
        overlaps = iou_matrix(anchors[keep], boxes)
        best = overlaps.argmax(axis=1)
        best_iou = overlaps[np.arange(len(keep)), best]
        kept = np.full(len(keep), -1, np.float32)
        kept[best_iou < NEGATIVE_IOU] = 0
        kept[best_iou >= POSITIVE_IOU] = 1
        labels[keep] = kept
        deltas[keep] = box_deltas(anchors[keep], boxes[best])
    else:
        labels[keep] = 0
    out, start = {}, 0
    for s, grid in zip(STRIDES, grids):
        n, side = len(grid), size // s
        lab = labels[start : start + n].reshape(side, side, NUM_ANCHORS).transpose(2, 0, 1)
        dt = deltas[start : start + n].reshape(side, side, NUM_ANCHORS, 4).transpose(2, 3, 0, 1)
        out[s] = (np.ascontiguousarray(lab), np.ascontiguousarray(dt.reshape(4 * NUM_ANCHORS, side, side)))
        start += n
    return out


def hard_examples(labels: np.ndarray, face_margin: np.ndarray) -> np.ndarray:
    """Upstream's OHEM for one image and stride: the hardest faces (<= 64), then the hardest backgrounds, 256 in all."""
    import numpy as np

    lab = labels.reshape(-1).copy()
    margin = face_margin.reshape(-1)
    faces = np.flatnonzero(lab == 1)
    if len(faces) > MAX_FACES_PER_IMAGE:
        hardest = faces[np.argsort(margin[faces], kind="stable")[:MAX_FACES_PER_IMAGE]]
        lab[faces] = -1
        lab[hardest] = 1
    background = np.flatnonzero(lab == 0)
    room = ANCHORS_PER_IMAGE - int((lab == 1).sum())
    if len(background) > room:
        hardest = background[np.argsort(-margin[background], kind="stable")[:room]]
        lab[background] = -1
        lab[hardest] = 0
    return lab.reshape(labels.shape)


def loss_gradients(score: np.ndarray, deltas: np.ndarray, labels: np.ndarray, targets: np.ndarray):
    """Gradients of upstream's losses for one stride's batch, and the two loss values."""
    import numpy as np

    A = NUM_ANCHORS
    margin = score[:, A:] - score[:, :A]
    chosen = np.stack([hard_examples(labels[i], margin[i]) for i in range(len(score))])
    valid = (chosen >= 0).astype(np.float32)
    face = (chosen == 1).astype(np.float32)
    count = max(float(valid.sum()), 1.0)
    prob = 1.0 / (1.0 + np.exp(-np.clip(margin, -60, 60)))
    g = (prob - face) * valid / count
    g_score = np.concatenate([-g, g], axis=1)
    cls_loss = float(-(np.log(np.where(face > 0, prob, 1 - prob) + 1e-12) * valid).sum() / count)
    weight = np.repeat(face, 4, axis=1)  # (B, A, H, W) -> (B, 4A, H, W): channel 4a + k
    diff = deltas - targets
    s2 = SMOOTH_L1_SIGMA**2
    small = np.abs(diff) < 1.0 / s2
    g_box = np.where(small, s2 * diff, np.sign(diff)) * weight / ANCHORS_PER_IMAGE
    box_loss = float((np.where(small, 0.5 * s2 * diff**2, np.abs(diff) - 0.5 / s2) * weight).sum() / ANCHORS_PER_IMAGE)
    return g_score.astype(np.float32), g_box.astype(np.float32), cls_loss, box_loss


def head_symbol():
    """The modules and raw heads on the designed inputs ``x8``, ``x16``, ``x32``; outputs cls score, bbox per stride."""
    from ..extras import require
    from ..model.network import _detection_module

    mx = require("mxnet", "training the synthetic detector")
    outs = []
    for name, filters, s in MODULES:
        body = _detection_module(mx, mx.sym.Variable(f"x{s}"), filters, name)
        outs.append(mx.sym.Convolution(body, kernel=(1, 1), num_filter=2 * NUM_ANCHORS, name=f"rpn_cls_score_stride{s}"))
        outs.append(mx.sym.Convolution(body, kernel=(1, 1), num_filter=4 * NUM_ANCHORS, name=f"rpn_bbox_pred_stride{s}"))
    return mx.sym.Group(outs)


def input_shapes(batch: int) -> dict[str, tuple[int, ...]]:
    return {f"x{s}": (batch, MODULE_INPUTS[name], SIZE // s, SIZE // s) for name, _, s in MODULES}


def initial_weights(symbol, shapes: dict, seed: int, prior_logit: float) -> dict[str, np.ndarray]:
    """He-normal convolutions, small heads, heads biased to background; seeded, in sorted name order."""
    import numpy as np

    arg_shapes, _, _ = symbol.infer_shape(**shapes)
    rng = np.random.RandomState(seed)
    params = {}
    for name, shape in sorted(zip(symbol.list_arguments(), arg_shapes)):
        if name in shapes:
            continue
        if name.endswith("_bias"):
            value = np.zeros(shape, np.float32)
            if name.startswith("rpn_cls_score"):
                value[:NUM_ANCHORS] = prior_logit  # channels [0, A) are background
        elif name.startswith("rpn_"):
            value = rng.randn(*shape) * 0.01
        else:
            value = rng.randn(*shape) * math.sqrt(2.0 / float(np.prod(shape[1:])))
        params[name] = np.asarray(value, np.float32)
    return params


def training_pool(seed: int, count: int, extractor: FeatureExtractor, emit: Emitter) -> list[Sample]:
    import numpy as np

    from ..model.spec import InputSpec

    mean = np.array(InputSpec().mean_values, np.float32).reshape(1, 3, 1, 1)
    rng = np.random.default_rng([seed, 1])  # a stream no `sshconv photos --seed` can give
    pool = []
    emit.start(count, "image", item="features")
    for i in range(count):
        pixels, boxes = fitted_photo(rng)
        pool.append(Sample(dict(zip((8, 16, 32), (f[0] for f in extractor(pixels - mean)))), anchor_targets(boxes)))
        emit.progress(i + 1, count, "image", item="features")
    return pool


def train_heads(
    seed: int, upsampling: np.ndarray, settings: TrainSettings = TrainSettings(), on_event: EventHandler | None = None
) -> dict[str, np.ndarray]:
    """Train the detection modules and heads; returns their parameters (module inputs: the designed channels only)."""
    import mxnet as mx
    import numpy as np

    from ..model.spec import InputSpec

    emit = Emitter("synth", on_event)
    extractor = FeatureExtractor(InputSpec().mean_values, 1, SIZE, SIZE, upsampling)
    pool = training_pool(seed, settings.photos, extractor, emit)
    symbol = head_symbol()
    shapes = input_shapes(settings.batch)
    params = initial_weights(symbol, shapes, seed, settings.prior_logit)
    exe = symbol.simple_bind(mx.cpu(), grad_req={n: "null" if n in shapes else "write" for n in symbol.list_arguments()},
                             **shapes)  # fmt: skip
    for name, value in params.items():
        exe.arg_dict[name][:] = value
    names = sorted(params)
    optimizer = mx.optimizer.Adam(learning_rate=settings.learning_rate, wd=settings.weight_decay)
    update = mx.optimizer.get_updater(optimizer)
    order_rng = np.random.RandomState(seed)
    order = np.arange(len(pool))
    emit.start(settings.steps, "step", item="training")
    for step in range(settings.steps):
        first = step * settings.batch % len(pool)
        if first < settings.batch:
            order_rng.shuffle(order)
        batch = [pool[order[(first + j) % len(pool)]] for j in range(settings.batch)]
        for _, _, s in MODULES:
            exe.arg_dict[f"x{s}"][:] = np.stack([b.features[s] for b in batch])
        outs = [o.asnumpy() for o in exe.forward(is_train=True)]
        grads, losses = [], [0.0, 0.0]
        for k, (_, _, s) in enumerate(MODULES):
            labels = np.stack([b.targets[s][0] for b in batch])
            targets = np.stack([b.targets[s][1] for b in batch])
            g_score, g_box, cls_loss, box_loss = loss_gradients(outs[2 * k], outs[2 * k + 1], labels, targets)
            grads += [mx.nd.array(g_score), mx.nd.array(g_box)]
            losses[0] += cls_loss
            losses[1] += box_loss
        exe.backward(out_grads=grads)
        optimizer.lr = settings.learning_rate * 0.5 * (1 + math.cos(math.pi * step / settings.steps))
        for i, name in enumerate(names):
            update(i, exe.grad_dict[name], exe.arg_dict[name])
        emit.progress(step + 1, settings.steps, "step", item="training",
                      cls_loss=round(losses[0], 4), box_loss=round(losses[1], 4))  # fmt: skip
    return {name: exe.arg_dict[name].asnumpy() for name in names}
