"""What verify found, as data: one struct module for results, their JSON, and nothing else.

A :class:`VerifyResult` holds the inputs (:class:`Sample`), one :class:`CheckResult` per
comparison (each converted model against the reference, route-vs-route pairs, negative
controls), and where a failing model first departs from MXNet (:class:`Divergence`).
Three words are kept apart: a model's *weights* (how an IR stores them: FP32, FP16), the
*tolerance set* a check uses (FP32, FP16, BF16), and the *execution* precision the
runtime was asked for and actually used (f32, bf16).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..detection.match import DetectionParity
from ..errors import EXIT_MISMATCH, EXIT_OK
from ..model.spec import DetectionThresholds, Tolerance


@dataclass
class Sample:
    """One input image in the raw-BGR contract, and where it came from."""

    index: int
    kind: str  # "random", "flat", "gradient", "extremes", "photo"
    label: str
    tensor: np.ndarray  # (1, 3, H, W) float32, BGR 0..255
    scale: tuple[float, float] = (1.0, 1.0)  # (sy, sx): network pixels per original pixel (photos)
    source: str = ""  # the seed or the photo's path
    faces: tuple[tuple[float, float, float, float], ...] = ()  # the labelled faces, x1 y1 x2 y2 in photo pixels, where known

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.tensor, dtype=np.float32).tobytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "label": self.label, "source": self.source,
                "shape": list(self.tensor.shape), "scale": list(self.scale), "sha256": self.sha256,
                "faces": [list(f) for f in self.faces]}  # fmt: skip


@dataclass
class OutputStats:
    """How one output of the candidate compares with the reference, over every sample."""

    name: str
    family: str
    tolerance: Tolerance
    reference_shape: tuple[int, ...]
    candidate_shape: tuple[int, ...] | None
    reference_dtype: str
    candidate_dtype: str | None
    nonfinite: int = 0  # NaN/Inf elements in the candidate
    max_abs: float = float("nan")
    mean_abs: float = float("nan")
    median_abs: float = float("nan")
    p99_abs: float = float("nan")
    max_rel: float = float("nan")
    mean_rel: float = float("nan")
    median_rel: float = float("nan")
    p99_rel: float = float("nan")
    argmax_abs: tuple[int, ...] = ()  # (sample, n, c, y, x) of the largest absolute error
    argmax_margin: tuple[int, ...] = ()  # (sample, n, c, y, x) of the largest error / tolerance
    reference_at_max: float = float("nan")
    candidate_at_max: float = float("nan")
    margin: float = float("inf")  # max |d| / (atol + rtol |ref|); <= 1 passes
    violations: int = 0  # elements beyond tolerance
    elements: int = 0
    problem: str = ""  # a structural problem (missing, shape, NaN); empty if none
    informational: bool = False  # a quantized model's statistics: shown, not part of the verdict (only a problem is)
    input_shape: tuple[int, ...] = ()  # the input shape of the samples these statistics cover

    @property
    def passed(self) -> bool:
        return not self.problem and (self.informational or self.margin <= 1.0)

    def to_dict(self) -> dict[str, Any]:
        d = {k: jsonable(v) for k, v in self.__dict__.items() if k != "tolerance"}
        d["tolerance"] = {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol}
        d["passed"] = self.passed
        return d


@dataclass
class SampleDetections:
    """Both sides' face boxes ``(N, 5)`` for one sample, and how well they match."""

    sample: int
    reference: np.ndarray
    candidate: np.ndarray
    parity: DetectionParity
    input_shape: tuple[int, ...] = ()

    def to_dict(self, boxes: bool = False) -> dict[str, Any]:
        p = self.parity
        d = {"sample": self.sample, "reference": p.reference, "candidate": p.candidate, "matched": p.matched,
             "missed": p.missed, "extra": p.extra, "passed": p.passed, "matched_fraction": p.matched_fraction,
             "max_box_drift": p.max_box_drift, "max_score_drift": p.max_score_drift}  # fmt: skip
        if self.input_shape:
            d["input_shape"] = list(self.input_shape)
        if boxes:
            d["reference_boxes"] = self.reference.tolist()
            d["candidate_boxes"] = self.candidate.tolist()
        return d


@dataclass
class Divergence:
    """Where a failing model first departs from MXNet, tensor by tensor."""

    tensor: str | None  # the first diverging tensor's name (MXNet and IR share it), None if none found
    error: float  # its max|d| / max|ref|
    threshold: float
    sample: int
    compared: list[tuple[str, float]] = field(default_factory=list)  # (name, error) in graph order
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"tensor": self.tensor, "error": jsonable(self.error), "threshold": self.threshold,
                "sample": self.sample, "note": self.note,
                "compared": [{"name": n, "error": jsonable(e)} for n, e in self.compared]}  # fmt: skip


@dataclass
class CheckResult:
    """One candidate model (or a negative control, or one IR against another) against a reference."""

    label: str
    model: str
    reference: str  # "mxnet", "golden:<file>", "model:<file>" or another check's label
    tolerance_set: str  # FP32, FP16, BF16
    execution: str | None  # execution precision asked for (INFERENCE_PRECISION_HINT)
    execution_used: str | None  # what the runtime ran
    weights: str = ""  # how the checked model stores its weights: FP32, FP16
    runtime: str = "openvino"  # what ran it: openvino, onnxruntime
    outputs: list[OutputStats] = field(default_factory=list)
    detections: list[SampleDetections] = field(default_factory=list)
    model_sha256: dict[str, str] = field(default_factory=dict)
    divergence: Divergence | None = None
    note: str = ""
    #: Set for a quantized model, judged by its faces: recall and precision against the reference's must reach these.
    detection_thresholds: DetectionThresholds | None = None

    @property
    def passed(self) -> bool:
        """Every output within tolerance (a quantized model's: present and finite), and the faces' verdict."""
        return bool(self.outputs) and all(o.passed for o in self.outputs) and self.detections_passed

    @property
    def detections_passed(self) -> bool:
        """No face missed and none extra; for a quantized model, recall and precision at its thresholds."""
        t = self.detection_thresholds
        if t is not None:
            return bool(self.detections) and self.recall >= t.recall and self.precision >= t.precision
        return all(d.parity.passed for d in self.detections)

    @property
    def recall(self) -> float:
        """Reference faces (clearly above the threshold) that the candidate found, over every input."""
        return _recall(self.detections)

    @property
    def precision(self) -> float:
        """Candidate boxes (clearly above the threshold) that are reference faces, over every input."""
        return _precision(self.detections)

    @property
    def input_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes checked, in the samples' order."""
        return list(dict.fromkeys([o.input_shape for o in self.outputs] + [d.input_shape for d in self.detections]))

    def shape_verdicts(self) -> dict[str, dict[str, Any]]:
        """Per input shape (``1x3x720x1280``): passed, the worst margin, faces missed and extra."""
        out = {}
        for shape in self.input_shapes:
            outputs = [o for o in self.outputs if o.input_shape == shape]
            dets = [d for d in self.detections if d.input_shape == shape]
            t = self.detection_thresholds
            if t is not None:
                faces_ok = not dets or (_recall(dets) >= t.recall and _precision(dets) >= t.precision)
            else:
                faces_ok = all(d.parity.passed for d in dets)
            key = "x".join(map(str, shape)) or "all"
            out[key] = {"passed": bool(outputs) and all(o.passed for o in outputs) and faces_ok,
                        "margin": jsonable(max((o.margin for o in outputs), default=float("inf"))),
                        "missed": sum(d.parity.missed for d in dets), "extra": sum(d.parity.extra for d in dets)}  # fmt: skip
        return out

    @property
    def failed_shapes(self) -> list[str]:
        return [k for k, v in self.shape_verdicts().items() if not v["passed"]]

    @property
    def missed(self) -> int:
        return sum(d.parity.missed for d in self.detections)

    @property
    def extra(self) -> int:
        return sum(d.parity.extra for d in self.detections)

    @property
    def max_score_drift(self) -> float:
        return max((d.parity.max_score_drift for d in self.detections), default=0.0)

    @property
    def margin(self) -> float:
        return max((o.margin for o in self.outputs), default=float("inf"))

    @property
    def matched_fraction(self) -> float:
        return min((d.parity.matched_fraction for d in self.detections), default=1.0)

    @property
    def max_box_drift(self) -> float:
        return max((d.parity.max_box_drift for d in self.detections), default=0.0)

    def to_dict(self, boxes: bool = False) -> dict[str, Any]:
        return {
            "label": self.label, "model": self.model, "reference": self.reference, "weights": self.weights,
            "tolerance_set": self.tolerance_set, "runtime": self.runtime, "execution": self.execution,
            "execution_used": self.execution_used,
            "passed": self.passed, "margin": jsonable(self.margin), "note": self.note,
            "model_sha256": self.model_sha256, "outputs": [o.to_dict() for o in self.outputs],
            "detection_parity": {"passed": self.detections_passed, "missed": self.missed, "extra": self.extra,
                                 "matched_fraction": self.matched_fraction, "max_box_drift": self.max_box_drift,
                                 "max_score_drift": self.max_score_drift, "recall": self.recall,
                                 "precision": self.precision, "thresholds": self._thresholds(),
                                 "samples": [d.to_dict(boxes) for d in self.detections]},
            "divergence": self.divergence.to_dict() if self.divergence else None,
            "shapes": self.shape_verdicts(),
        }  # fmt: skip

    def _thresholds(self) -> dict[str, float] | None:
        t = self.detection_thresholds
        return None if t is None else {"recall": t.recall, "precision": t.precision, "score_slack": t.score_slack}


@dataclass
class ControlResult:
    """A negative control: a copy of a checked model with one known defect. It must fail."""

    name: str  # "no_mean", "no_reverse", "scaled_weight"
    description: str
    of: str  # label of the check it is a copy of
    check: CheckResult

    @property
    def caught(self) -> bool:
        """The defect fails the check at every input shape verified (a control passing at one shape is a blind spot)."""
        verdicts = self.check.shape_verdicts()
        return not self.check.passed and all(not v["passed"] for v in verdicts.values())

    @property
    def missed_at(self) -> list[str]:
        """The input shapes at which the defect went unnoticed."""
        return [k for k, v in self.check.shape_verdicts().items() if v["passed"]]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "of": self.of, "caught": self.caught,
                "missed_at": self.missed_at, "check": self.check.to_dict()}  # fmt: skip


@dataclass
class VerifyResult:
    """Everything ``sshconv verify`` found; ``passed`` decides the exit code."""

    checks: list[CheckResult]
    samples: list[Sample]
    seed: int
    reference: str  # "mxnet", "numpy", "golden:<file>" or "model:<file>"
    pairs: list[CheckResult] = field(default_factory=list)  # IR against IR (mo vs onnx)
    controls: list[ControlResult] = field(default_factory=list)
    faces: list[Any] = field(default_factory=list)  # faces artifacts' checks and controls (verification/faces.py)
    environment: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)  # checkpoint / golden / manifest files
    self_test: bool = False
    golden_written: str | None = None
    #: What checkpoint the reference's outputs come from: its files' sha256 and whether sshconv synth made it.
    checkpoint: dict[str, Any] = field(default_factory=dict)
    #: The model after which a ``fail_fast`` verification stopped (it failed; the models after it were not run).
    stopped_after: str | None = None
    #: Why the reference is what it is, where sshconv chose it (``--reference auto`` without MXNet); else empty.
    reference_note: str = ""
    #: ``{"reference": [outputs per sample], check label: [outputs per sample]}``, for plots (not in JSON).
    raw_outputs: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict, repr=False)

    @property
    def controls_caught(self) -> bool:
        return all(c.caught for c in self.controls) and all(f.caught for f in self.faces if f.control)

    @property
    def passed(self) -> bool:
        ok = all(c.passed for c in self.checks) and all(p.passed for p in self.pairs)
        ok = ok and all(f.passed for f in self.faces if not f.control)
        return ok and (self.controls_caught if self.self_test else True)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_MISMATCH

    def to_dict(self, boxes: bool = False) -> dict[str, Any]:
        return {
            "passed": self.passed, "exit_code": self.exit_code, "reference": self.reference,
            "reference_note": self.reference_note, "seed": self.seed,
            "environment": self.environment, "hashes": self.hashes,
            "samples": [s.to_dict() for s in self.samples],
            "checks": [c.to_dict(boxes) for c in self.checks], "pairs": [p.to_dict(boxes) for p in self.pairs],
            "self_test": self.self_test, "controls": [c.to_dict() for c in self.controls],
            "faces_artifacts": [f.to_dict() for f in self.faces],
            "golden_written": self.golden_written, "checkpoint": self.checkpoint, "stopped_after": self.stopped_after,
        }  # fmt: skip


def jsonable(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    if isinstance(v, (np.floating, np.integer)):
        return jsonable(v.item())
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def _recall(detections) -> float:
    base = sum(d.parity.reference_clear for d in detections)
    return 1.0 if base == 0 else 1.0 - sum(d.parity.missed for d in detections) / base


def _precision(detections) -> float:
    base = sum(d.parity.candidate_clear for d in detections)
    return 1.0 if base == 0 else 1.0 - sum(d.parity.extra for d in detections) / base
