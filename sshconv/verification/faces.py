"""Faces artifacts judged by their boxes: the in-graph decoding against the reference decoder.

Each sample (N x 3 x H x W raw BGR) goes in as the frames it holds (uint8, N x H x W x 3). The faces
artifact also returns its fitted network input (the tensor named ``data``); the reference's raw
outputs on that same tensor (the reference run's own when the fit leaves the frame as it is, else
MXNet run on it) are decoded by :func:`sshconv.detection.decode.decode` down to the artifact's
score floor, and every frame's faces must be the same: each face of either side paired with one of
the other at IoU >= :data:`FACE_IOU`, scores within the precision's class-probability tolerance.
Faces within that tolerance of the floor may fall either side of it. A quantized artifact is judged
as a quantized raw model is: recall and precision of its faces above the decoding threshold.

Negative controls (``--self-test``) alter the wrapper's named constants: anchors of strides 8 and 32
swapped, upstream's +1 pixel dropped, NMS off. Each must fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..detection.decode import DecodeConfig, decode
from ..model.shapes import shape_text
from ..model.spec import QUANTIZED, DetectionThresholds

#: A face of the artifact and the reference's must overlap this much...
FACE_IOU = 0.99
#: ...and no corner may move by more than this many pixels (per weight precision; a large face keeps IoU 0.99
#: through a shift of a pixel, which is what a lost +1 does).
BOX_DRIFT_PX = {"FP32": 0.25, "FP16": 1.0}
#: The wrapper constants each control alters (names from conversion/faces_graph.py's KNOBS).
FACE_CONTROLS = {
    "strides-swapped": "the anchors of strides 8 and 32 swapped",
    "no-plus-one": "upstream's +1 pixel in widths, heights and NMS areas dropped",
    "nms-off": "non-maximum suppression off (IoU threshold 1)",
}


@dataclass
class FramesResult:
    """One sample's frames: faces of the reference and of the artifact, paired."""

    index: int
    input_shape: tuple[int, ...]
    network_shape: tuple[int, ...]
    reference: int
    candidate: int
    matched: int
    missed: int
    extra: int
    max_score_drift: float
    min_iou: float
    max_box_drift: float = 0.0
    reference_clear: int = 0
    candidate_clear: int = 0

    @property
    def passed(self) -> bool:
        return self.missed == 0 and self.extra == 0


@dataclass
class FacesCheck:
    """One faces artifact (or a control built from one) on every sample."""

    label: str
    weights: str
    fit: str
    floor: float
    frames: list[FramesResult] = field(default_factory=list)
    thresholds: DetectionThresholds | None = None  # a quantized artifact's recall and precision
    control: str | None = None
    note: str = ""

    @property
    def recall(self) -> float:
        clear = sum(f.reference_clear for f in self.frames)
        return 1.0 if clear == 0 else 1.0 - sum(f.missed for f in self.frames) / clear

    @property
    def precision(self) -> float:
        clear = sum(f.candidate_clear for f in self.frames)
        return 1.0 if clear == 0 else 1.0 - sum(f.extra for f in self.frames) / clear

    @property
    def failed_shapes(self) -> list[str]:
        return sorted({shape_text(f.input_shape) for f in self.frames if not f.passed})

    @property
    def passed(self) -> bool:
        if not self.frames:
            return False
        if self.thresholds is not None:
            return self.recall >= self.thresholds.recall and self.precision >= self.thresholds.precision
        return all(f.passed for f in self.frames)

    @property
    def caught(self) -> bool:
        """A control is caught when it fails at every input shape (as the raw models' controls)."""
        shapes = {shape_text(f.input_shape) for f in self.frames}
        return not self.passed and (self.thresholds is not None or set(self.failed_shapes) == shapes)

    def to_dict(self) -> dict[str, Any]:
        d = {"label": self.label, "weights": self.weights, "fit": self.fit, "score_floor": self.floor,
             "passed": self.passed, "failed_shapes": self.failed_shapes, "note": self.note,
             "faces": sum(f.reference for f in self.frames), "missed": sum(f.missed for f in self.frames),
             "extra": sum(f.extra for f in self.frames),
             "max_score_drift": max((f.max_score_drift for f in self.frames), default=0.0),
             "min_iou": min((f.min_iou for f in self.frames), default=1.0),
             "max_box_drift": max((f.max_box_drift for f in self.frames), default=0.0),
             "frames": [dict(f.__dict__, passed=f.passed) for f in self.frames]}  # fmt: skip
        if self.thresholds is not None:
            d.update(recall=self.recall, precision=self.precision, thresholds=self.thresholds.__dict__)
        if self.control is not None:
            d.update(control=self.control, description=FACE_CONTROLS[self.control], caught=self.caught)
        return d


def frames_of(tensor: np.ndarray) -> np.ndarray:
    """A raw BGR sample (N x 3 x H x W, whole pixel values) as the uint8 frames a faces artifact takes."""
    return np.ascontiguousarray(np.clip(np.rint(tensor), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1))


def judge(
    check: FacesCheck, sample, outputs: Mapping[str, np.ndarray], fitted: np.ndarray,
    reference: Callable[[np.ndarray], Mapping[str, np.ndarray]], config: DecodeConfig, slack: float,
) -> None:  # fmt: skip
    """Add the sample's frames to ``check``: the artifact's ``outputs`` against the decoded ``reference(fitted)``."""
    n, _, h, w = sample.tensor.shape
    fh, fw = fitted.shape[2:]
    raw = reference(fitted)
    quantized = check.thresholds is not None
    threshold = config.score_threshold if quantized else check.floor
    loose = replace(config, score_threshold=max(0.0, threshold - slack))
    faces, image = outputs["faces"], outputs["face_image"]
    for i in range(n):
        ref = decode(raw, (fh, fw), loose, (fh / h, fw / w), image=i)
        pool = decode(raw, (fh, fw), replace(loose, nms_threshold=1.0), (fh / h, fw / w), image=i)
        got = faces[image == i]
        got = got[got[:, 4] >= loose.score_threshold]
        frame = pair_faces(ref, pool, got, 0.5 if quantized else FACE_IOU, threshold, slack, config.nms_threshold)
        check.frames.append(FramesResult(sample.index, tuple(sample.tensor.shape), tuple(fitted.shape), **frame))
        drift_px = BOX_DRIFT_PX.get(check.weights, BOX_DRIFT_PX["FP16"])
        if not quantized and (frame["max_score_drift"] > slack or frame["max_box_drift"] > drift_px):
            check.frames[-1].extra += 1  # a paired face that moved more than the tolerance
            check.note = (f"a paired face moved: score by {frame['max_score_drift']:.3g} (limit {slack:.3g}), "
                          f"a corner by {frame['max_box_drift']:.3g} px (limit {drift_px:g})")  # fmt: skip


def pair_faces(ref: np.ndarray, pool: np.ndarray, got: np.ndarray, iou: float, threshold: float, slack: float,
               nms: float) -> dict[str, Any]:  # fmt: skip
    """Greedy one-to-one pairing by IoU, best reference score first; what is left is missed or extra.

    Faces within ``slack`` of ``threshold`` may be on either side. A near tie in NMS is not a lost face, and
    one tie can decide a chain of suppressions (A over B, B over C: whether C is kept depends on which of
    A and B won), so the artifact's faces are judged as one NMS outcome of the reference's own pool:

    * a reference face with no partner is not missed if the artifact kept a box of the pool that overlaps
      it past the NMS threshold and scores at least as high, less ``slack`` (it could have suppressed it);
    * an artifact face with no partner is not extra if it is a box of the pool that no other kept face
      overlaps past the NMS threshold (NMS would keep both of no such pair), and no reference face that
      the artifact kept too overlaps it past the threshold with a clearly higher score (that one would
      have suppressed it).
    """
    from ..detection.boxes import iou_matrix

    m = iou_matrix(ref, got)
    used = np.zeros(len(got), bool)
    paired = np.zeros(len(ref), bool)
    matched, drift, low, moved = 0, 0.0, 1.0, 0.0
    for i in np.argsort(-ref[:, 4], kind="stable") if len(got) else []:
        row = np.where(used, -1.0, m[i])
        j = int(row.argmax())
        if row[j] >= iou:
            used[j] = paired[i] = True
            if max(ref[i, 4], got[j, 4]) >= threshold:
                matched += 1
                drift = max(drift, float(abs(ref[i, 4] - got[j, 4])))
                moved = max(moved, float(np.abs(ref[i, :4] - got[j, :4]).max()))
                low = min(low, float(row[j]))

    def suppressible(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """For each face of ``a``: a face of ``b`` overlapping it past NMS's threshold that scores at least as high,
        less the slack (in some order of the near ties, NMS keeps that one and drops this one)."""
        if not len(a) or not len(b):
            return np.zeros(len(a), bool)
        higher = b[None, :, 4] >= a[:, None, 4] - slack
        return ((iou_matrix(a, b) > nms) & higher).any(axis=1)

    on_pool = iou_matrix(got, pool).max(axis=1) >= iou if len(got) and len(pool) else np.zeros(len(got), bool)
    clear = threshold + slack
    missed = (ref[:, 4] >= clear) & ~paired & ~suppressible(ref, got[on_pool]) if len(ref) else np.zeros(0, bool)
    if len(got):
        crowded = iou_matrix(got, got) > nms
        np.fill_diagonal(crowded, False)
        kept = ref[paired]
        outranked = ((iou_matrix(got, kept) > nms) & (kept[None, :, 4] > got[:, None, 4] + slack)).any(axis=1) if len(
            kept) else np.zeros(len(got), bool)  # fmt: skip
        extra = (got[:, 4] >= clear) & ~used & ~(on_pool & ~crowded.any(axis=1) & ~outranked)
    else:
        extra = np.zeros(0, bool)
    return {"reference": int((ref[:, 4] >= threshold).sum()), "candidate": int((got[:, 4] >= threshold).sum()),
            "matched": matched, "missed": int(missed.sum()), "extra": int(extra.sum()), "max_score_drift": drift,
            "min_iou": low, "max_box_drift": moved, "reference_clear": int((ref[:, 4] >= clear).sum()),
            "candidate_clear": int((got[:, 4] >= clear).sum())}  # fmt: skip


def control_model(model, name: str):
    """A copy of the faces ``ov.Model`` with one of :data:`FACE_CONTROLS` applied (its named constants replaced)."""
    from ..conversion.faces_graph import KNOBS
    from ..runtimes.openvino import opset

    model = model.clone()
    consts = {op.get_friendly_name(): op for op in model.get_ordered_ops() if op.get_type_name() == "Constant"}

    def put(name: str, value) -> None:
        old = consts[name]
        new = opset().constant(np.asarray(value, dtype=np.float32).reshape(old.get_output_shape(0)))
        old.output(0).replace(new.output(0))

    if name == "strides-swapped":
        for a, b in ((8, 32), (32, 8)):
            put(KNOBS["anchors"].format(a), consts[KNOBS["anchors"].format(b)].get_data().copy())
            put(KNOBS["stride"].format(a), float(b))
    elif name == "no-plus-one":
        put(KNOBS["plus_one"], 0.0)
    elif name == "nms-off":  # OpenVINO reads the IoU threshold into a constant of its own: found at the NMS's input
        nms = next(op for op in model.get_ordered_ops() if op.get_type_name().startswith("NonMaxSuppression"))
        iou = nms.input_value(3)
        iou.replace(opset().constant(np.ones(iou.get_shape(), np.float32)).output(0))
    else:
        raise KeyError(name)
    model.validate_nodes_and_infer_types()
    return model


def faces_checks_for(engines: Sequence, spec, fit_of: Mapping[str, str], floor: float, self_test: bool) -> list[FacesCheck]:
    """The checks to run: each faces engine, then (with ``self_test``) the controls of the first FP32 one."""
    checks = []
    for e in engines:
        thresholds = spec.detection[e.weights] if e.weights in QUANTIZED else None
        checks.append(FacesCheck(e.label, e.weights, fit_of.get(e.label, "none"), floor, thresholds=thresholds))
    first = next((e for e in engines if e.weights not in QUANTIZED), None)
    if self_test and first is not None:
        for name in FACE_CONTROLS:
            checks.append(FacesCheck(f"{first.label} control {name}", first.weights, fit_of.get(first.label, "none"),
                                     floor, control=name))  # fmt: skip
    return checks


def check_faces(plan, samples, refs, spec, tolerances, config: DecodeConfig, checkpoint, self_test: bool) -> list[FacesCheck]:
    """Every faces artifact of ``plan`` (and, with ``self_test``, the controls) on every sample; ``checkpoint`` (the
    reference's engine, MXNet or NumPy) runs on frames a fit resized."""
    import contextlib

    from ..engines import open_runner
    from ..runtimes.faces import FacesRunner
    from ..runtimes.openvino import read_openvino_model
    from .compare import score_slack

    options = plan.faces_options
    fit_of = {e.label: str(options.get("fit", "none")) for e in plan.faces}
    checks = faces_checks_for(plan.faces, spec, fit_of, float(options.get("score_floor", 0.05)), self_test)
    engines = {e.label: e for e in plan.faces}
    with contextlib.ExitStack() as stack:
        checkpoint_runner, ran = [], {}

        def reference(sample, fitted: np.ndarray) -> Mapping[str, np.ndarray]:
            if fitted.shape == sample.tensor.shape and np.array_equal(fitted, sample.tensor):
                return refs[sample.index]
            done = ran.get((sample.index, fitted.shape))
            if done is not None and np.array_equal(done[0], fitted):  # every artifact of one fit gets the same frame
                return done[1]
            if not checkpoint_runner:  # the fit resized the frames: the reference runs on exactly what the network got
                checkpoint_runner.append(stack.enter_context(open_runner(checkpoint, spec, input_shape=fitted.shape)))
            ran[(sample.index, fitted.shape)] = (fitted, checkpoint_runner[0].infer(fitted))
            return ran[(sample.index, fitted.shape)][1]

        for check in checks:
            engine = engines[check.label.split(" control ")[0]]
            if check.control is None:
                source = engine.path
            else:
                import openvino as ov

                source = control_model(read_openvino_model(ov.Core(), engine.path), check.control)
            slack = check.thresholds.score_slack if check.thresholds else score_slack(tolerances[check.weights])
            with FacesRunner(source, with_input=spec.input.name) as runner:
                for s in samples:
                    out = runner.infer_frames(frames_of(s.tensor))
                    fitted = out[spec.input.name]
                    judge(check, s, out, fitted, lambda t, s=s: reference(s, t), config, slack)
    return checks
