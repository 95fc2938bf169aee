"""Does the converted model compute what the MXNet checkpoint computes? ``sshconv verify``.

The reference is MXNet running the checkpoint on what the original code feeds it (RGB
minus the mean, done here in NumPy by :class:`~sshconv.runtimes.MXNetRunner`); the
converted model gets the **raw BGR** pixels of the same image, so its baked-in
preprocessing is part of what is checked.

For every output: names mapped (Model Optimizer's ``…:0``), shape, dtype, NaN/Inf, then
max / mean / median / p99 of the absolute and relative error with the location of the
largest, and the *margin*: the largest ``|cand - ref| / (atol + rtol * |ref|)`` over all
elements and samples. An output passes when its margin is <= 1. Tolerances come per
output family and precision from model.yml (:meth:`~sshconv.spec.ModelSpec.tolerance`),
overridable per output or family. Both sides are also decoded into face boxes
(:mod:`sshconv.decode`) and matched by IoU: detection-level parity.

A verifier that passes a wrong conversion is worse than none, so ``self_test`` runs
negative controls through the very same path: in-memory copies of the converted model
with one known defect each (no mean subtraction, no channel reversal, one weight
tensor scaled by 1 %). Each must FAIL; their margins show how far from the tolerance a
real defect lands. When a check fails, :func:`first_divergence` compares MXNet's
intermediate tensors with the IR's at the names that survived conversion, on a separate
copy of the model, and names the first one that differs.

Everything is returned as a :class:`VerifyResult` (dataclasses, JSON-ready through
``to_dict()``), which the CLI prints and report renderers draw.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .decode import DecodeConfig, DetectionParity, decode, match_detections
from .errors import EXIT_MISMATCH, EXIT_OK, InputError, IntegrityError, ModelFileError, UsageError
from .fsutil import atomic_path, atomic_write_text, sha256_file
from .runtimes import ir_weight_precision
from .spec import (
    OUTPUT_FAMILIES,
    PRECISIONS,
    VERIFY_SAMPLES,
    VERIFY_SEED,
    InputSpec,
    ModelSpec,
    Tolerance,
    output_family,
)

log = logging.getLogger(__name__)

#: Default number of seeded random images (the structured patterns come on top), and their seed.
DEFAULT_SAMPLES = VERIFY_SAMPLES
DEFAULT_SEED = VERIFY_SEED
#: Structured inputs, always checked: one grey level, channel-distinct ramps, 0/255 blocks.
PATTERNS = ("flat", "gradient", "extremes")
FLAT_LEVEL = 128.0
EXTREMES_BLOCK = 40
#: Relative error is |cand - ref| / max(|ref|, REL_ERROR_FLOOR): near-zero references do not explode it.
REL_ERROR_FLOOR = 1e-3
#: The weight-scaling negative control: this convolution's weights times CONTROL_SCALE.
CONTROL_LAYER = "conv3_1"
CONTROL_SCALE = 1.01
#: First-divergence search: a tensor diverges when max|d| / max|ref| exceeds this, per precision.
DIVERGENCE_THRESHOLD = {"FP32": 1e-4, "FP16": 1e-2, "BF16": 5e-2}
GOLDEN_FORMAT = 1
#: Execution precision hint for each tolerance set.
EXECUTION = {"FP32": "f32", "FP16": "f32", "BF16": "bf16"}


# --------------------------------------------------------------------------- results


@dataclass
class Sample:
    """One input image in the raw-BGR contract, and where it came from."""

    index: int
    kind: str  # "random", "flat", "gradient", "extremes", "photo"
    label: str
    tensor: np.ndarray  # (1, 3, H, W) float32, BGR 0..255
    scale: tuple[float, float] = (1.0, 1.0)  # (sy, sx): network pixels per original pixel (photos)
    source: str = ""  # the seed or the photo's path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.tensor, dtype=np.float32).tobytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "label": self.label, "source": self.source,
                "shape": list(self.tensor.shape), "scale": list(self.scale), "sha256": self.sha256}  # fmt: skip


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

    @property
    def passed(self) -> bool:
        return not self.problem and self.margin <= 1.0

    def to_dict(self) -> dict[str, Any]:
        d = {k: _jsonable(v) for k, v in self.__dict__.items() if k != "tolerance"}
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

    def to_dict(self, boxes: bool = False) -> dict[str, Any]:
        p = self.parity
        d = {"sample": self.sample, "reference": p.reference, "candidate": p.candidate, "matched": p.matched,
             "matched_fraction": p.matched_fraction, "max_box_drift": p.max_box_drift,
             "max_score_drift": p.max_score_drift}  # fmt: skip
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
        return {"tensor": self.tensor, "error": _jsonable(self.error), "threshold": self.threshold,
                "sample": self.sample, "note": self.note,
                "compared": [{"name": n, "error": _jsonable(e)} for n, e in self.compared]}  # fmt: skip


@dataclass
class CheckResult:
    """One candidate model (or a negative control, or one IR against another) against a reference."""

    label: str
    model: str
    reference: str  # "mxnet", "golden:<file>" or another check's label
    precision: str  # the tolerance set: FP32, FP16, BF16
    precision_hint: str | None  # INFERENCE_PRECISION_HINT asked for
    precision_used: str | None  # what the CPU plugin ran
    outputs: list[OutputStats] = field(default_factory=list)
    detections: list[SampleDetections] = field(default_factory=list)
    model_sha256: dict[str, str] = field(default_factory=dict)
    divergence: Divergence | None = None
    note: str = ""

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(o.passed for o in self.outputs)

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
            "label": self.label, "model": self.model, "reference": self.reference, "precision": self.precision,
            "precision_hint": self.precision_hint, "precision_used": self.precision_used,
            "passed": self.passed, "margin": _jsonable(self.margin), "note": self.note,
            "model_sha256": self.model_sha256, "outputs": [o.to_dict() for o in self.outputs],
            "detection_parity": {"matched_fraction": self.matched_fraction, "max_box_drift": self.max_box_drift,
                                 "samples": [d.to_dict(boxes) for d in self.detections]},
            "divergence": self.divergence.to_dict() if self.divergence else None,
        }  # fmt: skip


@dataclass
class ControlResult:
    """A negative control: a copy of a checked model with one known defect. It must fail."""

    name: str  # "no_mean", "no_reverse", "scaled_weight"
    description: str
    of: str  # label of the check it is a copy of
    check: CheckResult

    @property
    def caught(self) -> bool:
        return not self.check.passed

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "of": self.of, "caught": self.caught,
                "check": self.check.to_dict()}  # fmt: skip


@dataclass
class VerifyResult:
    """Everything ``sshconv verify`` found; ``passed`` decides the exit code."""

    checks: list[CheckResult]
    samples: list[Sample]
    seed: int
    reference: str  # "mxnet" or "golden:<file>"
    pairs: list[CheckResult] = field(default_factory=list)  # IR against IR (mo vs onnx)
    controls: list[ControlResult] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)  # checkpoint / golden / manifest files
    self_test: bool = False
    golden_written: str | None = None
    #: ``{"reference": [outputs per sample], check label: [outputs per sample]}``, for plots (not in JSON).
    raw_outputs: dict[str, list[dict[str, np.ndarray]]] = field(default_factory=dict, repr=False)

    @property
    def controls_caught(self) -> bool:
        return all(c.caught for c in self.controls)

    @property
    def passed(self) -> bool:
        ok = all(c.passed for c in self.checks) and all(p.passed for p in self.pairs)
        return ok and (self.controls_caught if self.self_test else True)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.passed else EXIT_MISMATCH

    def to_dict(self, boxes: bool = False) -> dict[str, Any]:
        return {
            "passed": self.passed, "exit_code": self.exit_code, "reference": self.reference, "seed": self.seed,
            "environment": self.environment, "hashes": self.hashes,
            "samples": [s.to_dict() for s in self.samples],
            "checks": [c.to_dict(boxes) for c in self.checks], "pairs": [p.to_dict(boxes) for p in self.pairs],
            "self_test": self.self_test, "controls": [c.to_dict() for c in self.controls],
            "golden_written": self.golden_written,
        }  # fmt: skip


# --------------------------------------------------------------------------- inputs


def pattern_image(kind: str, height: int, width: int) -> np.ndarray:
    """A structured raw-BGR input ``(1, 3, H, W)``: ``flat``, ``gradient`` or ``extremes``."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if kind == "flat":
        img = np.full((3, height, width), FLAT_LEVEL, np.float32)
    elif kind == "gradient":
        # A different ramp per channel, so that swapped channels change the picture.
        img = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1), (xx + yy) / max(width + height - 2, 1)])
        img = np.round(img * 255)
    elif kind == "extremes":
        board = ((xx // EXTREMES_BLOCK + yy // EXTREMES_BLOCK) % 2) * 255
        stripes = ((xx // (2 * EXTREMES_BLOCK)) % 2) * 255
        img = np.stack([board, 255 - board, stripes])
    else:
        raise UsageError(f"pattern {kind!r}: expected one of {', '.join(PATTERNS)}")
    return np.ascontiguousarray(img[None], dtype=np.float32)


def make_samples(
    shape: Sequence[int], samples: int = DEFAULT_SAMPLES, seed: int = DEFAULT_SEED,
    images: str | Path | None = None, patterns: Sequence[str] = PATTERNS,
) -> list[Sample]:  # fmt: skip
    """Seeded random integer images, the structured patterns, and photos from ``images`` (resized)."""
    if samples < 0:
        raise UsageError(f"--samples {samples}: expected a number >= 0")
    _, _, h, w = (int(d) for d in shape)
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    for i in range(samples):
        t = rng.integers(0, 256, size=(1, 3, h, w)).astype(np.float32)
        out.append(Sample(len(out), "random", f"random #{i} (seed {seed})", t, source=f"seed {seed}"))
    for kind in patterns:
        out.append(Sample(len(out), kind, kind, pattern_image(kind, h, w)))
    if images is not None:
        from .images import fit_to_network, list_images, load_bgr

        for path in list_images(images):
            fitted = fit_to_network(load_bgr(path), h, w, mode="resize")
            out.append(Sample(len(out), "photo", path.name, fitted.tensor, tuple(fitted.scale), str(path)))
    if not out:
        raise UsageError("no inputs: pass --samples N > 0, or --images DIR")
    return out


# --------------------------------------------------------------------------- tolerances


def parse_overrides(atol: Sequence[str] = (), rtol: Sequence[str] = ()) -> dict[str, dict[str, float]]:
    """``["cls_prob=1e-3", "rpn_bbox_pred_stride8=0.01"]`` -> ``{name: {"atol": v}}``; UsageError if malformed."""
    out: dict[str, dict[str, float]] = {}
    for key, items in (("atol", atol), ("rtol", rtol)):
        for item in items:
            name, sep, value = item.partition("=")
            try:
                v = float(value)
            except ValueError:
                v = float("nan")
            if not sep or not name or not np.isfinite(v) or v < 0:
                raise UsageError(f"--{key} {item!r}: expected NAME=VALUE with VALUE >= 0, e.g. --{key} cls_prob=1e-4")
            out.setdefault(name, {})[key] = v
    return out


def resolve_tolerances(
    spec: ModelSpec, precision: str, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, Tolerance]:
    """Tolerance per output: model.yml (or defaults), then family overrides, then per-output overrides."""
    overrides = overrides or {}
    names = [o.name for o in spec.outputs]
    for key in overrides:
        if key not in names and key not in OUTPUT_FAMILIES:
            raise UsageError(
                f"tolerance override {key!r}: not an output or family; use one of {', '.join(OUTPUT_FAMILIES)} "
                f"or an output name ({names[0]}, ...)"
            )
    result = {}
    for name in names:
        tol = spec.tolerance(precision, name)
        for key in (output_family(name), name):
            o = overrides.get(key, {})
            tol = Tolerance(o.get("atol", tol.atol), o.get("rtol", tol.rtol))
        result[name] = tol
    return result


# --------------------------------------------------------------------------- comparison


def compare_outputs(
    references: Sequence[Mapping[str, np.ndarray]],
    candidates: Sequence[Mapping[str, np.ndarray]],
    tolerances: Mapping[str, Tolerance],
) -> list[OutputStats]:
    """Per-output statistics of ``candidates`` against ``references`` (one mapping per sample)."""
    stats = []
    for name, tol in tolerances.items():
        ref0 = references[0][name]
        cand0 = candidates[0].get(name)
        s = OutputStats(
            name=name, family=output_family(name), tolerance=tol, reference_shape=tuple(ref0.shape),
            candidate_shape=None if cand0 is None else tuple(cand0.shape), reference_dtype=str(ref0.dtype),
            candidate_dtype=None if cand0 is None else str(cand0.dtype),
        )  # fmt: skip
        stats.append(s)
        if cand0 is None:
            s.problem = "missing in the converted model"
            continue
        if s.candidate_shape != s.reference_shape:
            s.problem = f"shape {s.candidate_shape}, reference {s.reference_shape}"
            continue
        if s.candidate_dtype != s.reference_dtype:
            s.problem = f"dtype {s.candidate_dtype}, reference {s.reference_dtype}"
        ref = np.stack([np.asarray(r[name], np.float64) for r in references])
        cand = np.stack([np.asarray(c[name], np.float64) for c in candidates])
        finite = np.isfinite(cand)
        s.nonfinite = int((~finite).sum())
        if s.nonfinite:
            s.problem = f"{s.nonfinite} NaN/Inf value(s) in the converted model's output"
        cand = np.where(finite, cand, np.inf)
        diff = np.abs(cand - ref)
        rel = diff / np.maximum(np.abs(ref), REL_ERROR_FLOOR)
        ratio = diff / (tol.atol + tol.rtol * np.abs(ref)) if (tol.atol or tol.rtol) else np.where(diff > 0, np.inf, 0.0)
        s.elements = int(diff.size)
        s.max_abs, s.mean_abs = float(diff.max()), float(diff.mean())
        s.median_abs, s.p99_abs = float(np.median(diff)), float(np.percentile(diff, 99))
        s.max_rel, s.mean_rel = float(rel.max()), float(rel.mean())
        s.median_rel, s.p99_rel = float(np.median(rel)), float(np.percentile(rel, 99))
        i_abs = np.unravel_index(int(diff.argmax()), diff.shape)
        s.argmax_abs = tuple(int(i) for i in i_abs)
        s.argmax_margin = tuple(int(i) for i in np.unravel_index(int(ratio.argmax()), ratio.shape))
        s.reference_at_max, s.candidate_at_max = float(ref[i_abs]), float(cand[i_abs])
        s.margin = float(ratio.max())
        s.violations = int((ratio > 1.0).sum())
    return stats


def _detections(
    samples: Sequence[Sample], ref_dets: Sequence[np.ndarray], candidates: Sequence[Mapping[str, np.ndarray]],
    config: DecodeConfig,
) -> list[SampleDetections]:  # fmt: skip
    out = []
    for s, ref, cand in zip(samples, ref_dets, candidates):
        try:
            dets = decode(cand, s.tensor.shape[2:4], config, s.scale)
        except (KeyError, ValueError, IndexError):
            dets = np.zeros((0, 5), np.float32)
        out.append(SampleDetections(s.index, ref, dets, match_detections(ref, dets)))
    return out


# --------------------------------------------------------------------------- models


@dataclass
class Candidate:
    """A model to check: its label, file, tolerance set and execution precision."""

    label: str
    path: Path
    precision: str  # tolerance set: FP32 / FP16 / BF16
    hint: str = "f32"


def model_hashes(path: str | Path) -> dict[str, str]:
    path = Path(path)
    files = [path] + ([path.with_suffix(".bin")] if path.suffix.lower() == ".xml" else [])
    return {p.name: sha256_file(p) for p in files if p.is_file()}


def _read_model(path: Path):
    import openvino.runtime as ov

    from .runtimes import read_openvino_model

    return read_openvino_model(ov.Core(), path)


def _run_openvino(model, samples: Sequence[Sample], hint: str | None, input_shape, label: str):
    from .runtimes import OpenVINORunner

    with OpenVINORunner(model, precision=hint, input_shape=input_shape) as runner:
        outs = [runner.infer(s.tensor) for s in samples]
        return outs, runner.precision_used


def _check(
    label: str, model, model_desc: str, reference: str, precision: str, hint: str | None,
    samples: Sequence[Sample], refs, ref_dets, tolerances, spec: ModelSpec, config: DecodeConfig | None,
) -> tuple[CheckResult, list[dict[str, np.ndarray]]]:  # fmt: skip
    """Run ``model`` on every sample and compare; ``config=None`` skips detection parity."""
    outs, used = _run_openvino(model, samples, hint, spec.input.shape, label)
    res = CheckResult(label, model_desc, reference, precision, hint, used)
    res.outputs = compare_outputs(refs, outs, tolerances)
    if config is not None:
        res.detections = _detections(samples, ref_dets, outs, config)
    if hint and used and used != hint:
        res.note = f"asked for {hint} execution, this CPU ran {used}"
    return res, outs


# --------------------------------------------------------------------------- negative controls


def control_models(model, input_spec: InputSpec | None = None) -> list[tuple[str, str, Any]]:
    """``(name, description, ov.Model)`` of each negative control: copies of ``model`` with one defect.

    Built by editing a copy of the *converted model itself* in memory, so that each
    control differs from what was checked in exactly one known way (same route, same
    weights, same everything else) and needs neither the checkpoint nor Model Optimizer:

    * ``no_mean``: the input gets the mean added back in front of the model, which
      cancels the baked-in subtraction exactly (integer pixels): a conversion without
      ``--mean_values``;
    * ``no_reverse``: the channels are reversed in front of the model, which cancels the
      baked-in reversal: a conversion without ``--reverse_input_channels``;
    * ``scaled_weight``: the weights of one convolution (``CONTROL_LAYER``) times
      ``CONTROL_SCALE``: a subtly wrong weight tensor.
    """
    import openvino.runtime as ov
    from openvino.preprocess import PrePostProcessor

    inp = input_spec or InputSpec()
    # The mean in the order of the raw input's channels (the model reverses them before subtracting).
    mean_in = list(reversed(inp.mean_values)) if inp.reverse_input_channels else list(inp.mean_values)
    mean_bgr = [-m for m in mean_in]

    def with_pre(step: str):
        m = model.clone()
        ppp = PrePostProcessor(m)
        ppp.input().tensor().set_layout(ov.Layout("NCHW"))
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        if step == "mean":
            ppp.input().preprocess().mean(mean_bgr)
        else:
            ppp.input().preprocess().reverse_channels()
        return ppp.build()

    scaled, layer = scale_conv_weights(model, CONTROL_LAYER, CONTROL_SCALE)
    return [
        ("no_mean", "the converted model without its mean subtraction", with_pre("mean")),
        ("no_reverse", "the converted model without its BGR->RGB channel reversal", with_pre("reverse")),
        ("scaled_weight", f"the converted model with {layer}'s weights scaled by {CONTROL_SCALE:g}", scaled),
    ]


def scale_conv_weights(model, layer: str, factor: float):
    """A copy of ``model`` with the weights of convolution ``layer`` times ``factor``; and the layer's name.

    Falls back to the fifth convolution (``conv3_1`` in VGG order) when no convolution is
    named ``layer`` (a route that renamed layers).
    """
    from openvino.runtime import opset10 as ops

    m = model.clone()
    convs = [op for op in m.get_ordered_ops() if op.get_type_name() == "Convolution"]
    if not convs:
        raise ModelFileError("the model has no Convolution to build the scaled-weight control from")
    named = [op for op in convs if _layer_name(op) == layer]
    conv = named[0] if named else convs[min(4, len(convs) - 1)]
    target = conv.input(1)
    src = target.get_source_output().get_node()
    while src.get_type_name() in ("Convert", "Reshape") and src.get_type_name() != "Constant":
        target = src.input(0)
        src = target.get_source_output().get_node()
    if src.get_type_name() != "Constant":
        raise ModelFileError(f"{_layer_name(conv)}: its weights are not a constant; cannot build the scaled-weight control")
    data = src.get_data()
    target.replace_source_output(ops.constant((data.astype(np.float32) * factor).astype(data.dtype)).output(0))
    return m, _layer_name(conv)


def _layer_name(op) -> str:
    return op.get_friendly_name().split("/")[0]


# --------------------------------------------------------------------------- first divergence


def first_divergence(
    checkpoint_dir: str | Path, model, sample: Sample, spec: ModelSpec, precision: str = "FP32",
    hint: str | None = "f32",
) -> Divergence:  # fmt: skip
    """The first tensor, in graph order, where ``model`` departs from MXNet on ``sample``.

    Compares MXNet's internals with the IR's tensors at every name both graphs share
    (Model Optimizer keeps the MXNet layer names as ``name:0``), on a separate copy of
    the model with those tensors added as outputs, so the checked graph is not touched.
    """
    from .runtimes import MXNetRunner, OpenVINORunner, openvino_tensor_names

    threshold = DIVERGENCE_THRESHOLD[precision]
    inp = spec.input
    with MXNetRunner(checkpoint_dir, inp.shape, inp.mean_values, inp.reverse_input_channels, inp.name) as mx_runner:
        mx_names = set(mx_runner.internal_names())
        shared = [n for n in openvino_tensor_names(model) if n in mx_names]
        if not shared:
            return Divergence(None, float("nan"), threshold, sample.index, note="no tensor names survived conversion")
        refs = mx_runner.infer_internals(sample.tensor, shared)
    with OpenVINORunner(model, precision=hint, input_shape=inp.shape, extra_outputs=shared) as ov_runner:
        cands = ov_runner.infer(sample.tensor)
    compared = []
    first, first_err = None, float("nan")
    for name in shared:
        ref, cand = refs[name], cands[name]
        if ref.shape != cand.shape:
            err = float("inf")
        else:
            err = float(np.abs(cand.astype(np.float64) - ref).max() / max(float(np.abs(ref).max()), 1e-12))
            if not np.isfinite(err):
                err = float("inf")
        compared.append((name, err))
        if first is None and err > threshold:
            first, first_err = name, err
    note = f"{len(shared)} shared tensor names compared"
    return Divergence(first, first_err, threshold, sample.index, compared, note)


# --------------------------------------------------------------------------- golden files


def save_golden(path: str | Path, samples: Sequence[Sample], refs: Sequence[Mapping[str, np.ndarray]], meta: dict) -> Path:
    """Write inputs and reference outputs (npz) with the sha256 of every array in its metadata."""
    arrays: dict[str, np.ndarray] = {}
    hashes = {}
    for s, r in zip(samples, refs):
        arrays[f"input_{s.index}"] = np.ascontiguousarray(s.tensor, np.float32)
        for name, v in r.items():
            arrays[f"output_{s.index}_{name}"] = np.ascontiguousarray(v, np.float32)
    for key, v in arrays.items():
        hashes[key] = _array_sha256(v)
    meta = {**meta, "format": GOLDEN_FORMAT, "samples": [s.to_dict() for s in samples],
            "outputs": list(refs[0]), "array_sha256": hashes}  # fmt: skip
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return path


def load_golden(path: str | Path) -> tuple[list[Sample], list[dict[str, np.ndarray]], dict]:
    """Read a golden file back; its arrays are checked against their stored sha256."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"golden file {path}: no such file; write one with `sshconv verify --save-golden {path}`")
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(bytes(data.pop("meta")).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, UnicodeDecodeError) as exc:
        raise InputError(
            f"golden file {path}: not a golden npz ({exc.__class__.__name__}); write it again with --save-golden"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != GOLDEN_FORMAT:
        raise InputError(
            f"golden file {path}: format {meta.get('format') if isinstance(meta, dict) else '?'}, expected {GOLDEN_FORMAT}"
        )
    for key, digest in meta["array_sha256"].items():
        if key not in data:
            raise IntegrityError(f"golden file {path}: array {key} is missing; the file is damaged, write it again")
        if _array_sha256(data[key]) != digest:
            raise IntegrityError(
                f"golden file {path}: array {key} does not match its sha256; the file is damaged, write it again"
            )
    samples, refs = [], []
    for sd in meta["samples"]:
        i = sd["index"]
        samples.append(Sample(i, sd["kind"], sd["label"], data[f"input_{i}"], tuple(sd["scale"]), sd.get("source", "")))
        refs.append({name: data[f"output_{i}_{name}"] for name in meta["outputs"]})
    return samples, refs, meta


def _array_sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


# --------------------------------------------------------------------------- artifacts


def artifact_candidates(folder: str | Path) -> tuple[list[Candidate], dict[str, str], dict[str, str]]:
    """Every model ``sshconv convert`` wrote in ``folder``, after checking each against ``manifest.json``.

    Returns the candidates (IRs as ``ir/ROUTE/PRECISION``, the ONNX file as ``onnx``), the
    manifest's own hash, and the sha256 of the checkpoint files it was converted from.
    A missing or changed artifact is an :class:`IntegrityError` (exit 4).
    """
    from .convert import MANIFEST_NAME, check_artifacts, read_manifest

    folder = Path(folder)
    doc = read_manifest(folder)
    check_artifacts(folder, doc)
    manifest = folder / MANIFEST_NAME
    found = []
    for e in doc["artifacts"]:
        p = folder / e["path"]
        if p.suffix == ".xml":
            route = e.get("route") or p.parent.parent.name
            precision = str(e.get("precision") or p.parent.name).upper()
            found.append(Candidate(f"ir/{route}/{precision}", p, ir_weight_precision(p)))
        elif p.suffix == ".onnx":
            found.append(Candidate("onnx", p, "FP32"))
    if not found:
        raise ModelFileError(f"{manifest}: lists no IR or ONNX model; run `sshconv convert` into {folder}")
    files = (doc.get("source") or {}).get("files") or {}
    source = {n: str(v.get("sha256")) for n, v in files.items() if isinstance(v, dict)}
    return found, {"manifest.json": sha256_file(manifest)}, source


def _pair_label(c: Candidate) -> tuple[str, str] | None:
    parts = c.label.split("/")
    return (parts[1], parts[2]) if len(parts) == 3 else None


# --------------------------------------------------------------------------- the command


def environment() -> dict[str, str]:
    from . import __version__

    env = {"sshconv": __version__, "python": sys.version.split()[0], "numpy": np.__version__,
           "platform": platform.platform(), "cpu": _cpu_name()}  # fmt: skip
    try:
        from .runtimes import openvino_version

        env["openvino"] = openvino_version()
    except ImportError:
        env["openvino"] = "not installed"
    if "mxnet" in sys.modules:
        env["mxnet"] = sys.modules["mxnet"].__version__
    return env


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def verify(
    spec: ModelSpec,
    *,
    input_dir: str | Path | None = None,
    ir: str | Path | None = None,
    onnx: str | Path | None = None,
    artifacts: str | Path | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    images: str | Path | None = None,
    overrides: Mapping[str, Mapping[str, float]] | None = None,
    golden: str | Path | None = None,
    save_golden_to: str | Path | None = None,
    self_test: bool = False,
    bf16: bool = False,
    json_report: str | Path | None = None,
    decode_config: DecodeConfig = DecodeConfig(),
) -> VerifyResult:
    """Check converted model(s) against MXNet (or a golden file); see the module docstring.

    Exactly one of ``ir``, ``onnx``, ``artifacts`` (or only ``save_golden_to`` with
    ``input_dir``). ``input_dir`` is the checkpoint (needed unless ``golden``). Returns a
    :class:`VerifyResult`; a mismatch is a result with ``passed == False``, not an
    exception. Bad inputs raise :class:`~sshconv.errors.SshconvError` subclasses.
    """
    targets = [t for t in (ir, onnx, artifacts) if t is not None]
    if len(targets) > 1:
        raise UsageError("verify: pass only one of --ir, --onnx, --artifacts")
    if not targets and save_golden_to is None:
        raise UsageError("verify: pass one of --ir X.xml, --onnx X.onnx or --artifacts DIR (or --save-golden F)")
    if golden is not None and save_golden_to is not None:
        raise UsageError("verify: --golden and --save-golden do not go together; save first, then verify with --golden")
    if golden is not None and images is not None:
        raise UsageError("verify: --images does not go with --golden; the golden file holds its own inputs")
    if golden is None and input_dir is None:
        raise UsageError("verify: pass --input-dir D (the MXNet checkpoint), or --golden F to verify without MXNet")
    for p in (ir, onnx):
        if p is not None and not Path(p).exists():
            raise ModelFileError(f"{p}: no such file; pass the model that `sshconv convert` wrote")
    if json_report is not None:
        from .fsutil import ensure_dir

        ensure_dir(Path(json_report).parent, "JSON report folder")
    tolerance_sets = {p: resolve_tolerances(spec, p, overrides) for p in PRECISIONS}

    candidates: list[Candidate] = []
    hashes: dict[str, str] = {}
    converted_from: dict[str, str] = {}
    if ir is not None:
        candidates.append(Candidate("ir", Path(ir), ir_weight_precision(ir)))
    elif onnx is not None:
        candidates.append(Candidate("onnx", Path(onnx), "FP32"))
    elif artifacts is not None:
        candidates, manifest_hashes, converted_from = artifact_candidates(artifacts)
        hashes.update(manifest_hashes)
    # Read every model first: a broken file is a usage error before minutes of MXNet.
    models = {c.label: _read_model(c.path) for c in candidates}
    from .runtimes import check_model_contract

    expected = [o.name for o in spec.outputs]
    models = {c.label: check_model_contract(models[c.label], str(c.path), spec.input.shape, expected) for c in candidates}

    if golden is not None:
        sample_list, refs, meta = load_golden(golden)
        reference = f"golden:{golden}"
        seed = int(meta.get("seed", seed))
        hashes[Path(golden).name] = sha256_file(golden)
        hashes.update({f"checkpoint:{k}": v for k, v in meta.get("checkpoint_sha256", {}).items()})
    else:
        sample_list = make_samples(spec.input.shape, samples, seed, images)
        refs, ckpt_hashes = _mxnet_reference(input_dir, spec, sample_list)
        differ = [n for n, h in converted_from.items() if n in ckpt_hashes and ckpt_hashes[n] != h]
        if differ:
            raise InputError(
                f"{artifacts}: was converted from a different checkpoint than {input_dir} ({', '.join(differ)} differ); "
                "pass the --input-dir the artifacts were converted from"
            )
        reference = "mxnet"
        hashes.update({f"checkpoint:{k}": v for k, v in ckpt_hashes.items()})
    ref_dets = [decode(r, s.tensor.shape[2:4], decode_config, s.scale) for s, r in zip(sample_list, refs)]

    result = VerifyResult([], sample_list, seed, reference, environment={}, hashes=hashes, self_test=self_test)
    result.raw_outputs["reference"] = list(refs)
    if save_golden_to is not None:
        meta = {"seed": seed, "checkpoint_sha256": {k.split(":", 1)[1]: v for k, v in hashes.items() if k.startswith("checkpoint:")},
                "environment": environment(), "input": spec.input.__dict__}  # fmt: skip
        result.golden_written = str(save_golden(save_golden_to, sample_list, refs, meta))
        result.hashes[Path(save_golden_to).name] = sha256_file(save_golden_to)

    outputs_by_label: dict[str, list] = {}
    for c in candidates:
        model = models[c.label]
        runs = [(c.label, c.precision, EXECUTION[c.precision])]
        if bf16 and c.precision == "FP32":
            runs.append((f"{c.label} bf16", "BF16", "bf16"))
        for label, precision, hint in runs:
            log.info("checking %s (%s tolerances, %s execution)", label, precision, hint)
            check, outs = _check(label, model, str(c.path), reference, precision, hint, sample_list, refs, ref_dets,
                                 tolerance_sets[precision], spec, decode_config)  # fmt: skip
            check.model_sha256 = model_hashes(c.path)
            result.checks.append(check)
            outputs_by_label[label] = outs
            result.raw_outputs[label] = outs
            if not check.passed and input_dir is not None and precision != "BF16":
                worst = max(check.outputs, key=lambda o: o.margin if np.isfinite(o.margin) else 1e300)
                sample = sample_list[worst.argmax_margin[0]] if worst.argmax_margin else sample_list[0]
                check.divergence = first_divergence(input_dir, _read_model(c.path), sample, spec, precision, hint)
        if self_test:
            for name, desc, control in control_models(model, spec.input):
                check, _ = _check(
                    f"{c.label} control {name}",
                    control,
                    f"{c.path} ({desc})",
                    reference,
                    c.precision,
                    EXECUTION[c.precision],
                    sample_list,
                    refs,
                    ref_dets,
                    tolerance_sets[c.precision],
                    spec,
                    None,
                )  # fmt: skip  (controls are judged on tensors; no box decoding)
                result.controls.append(ControlResult(name, desc, c.label, check))

    # IR against IR: the same precision from the two routes must agree with each other too.
    by_pair = {}
    for c in candidates:
        key = _pair_label(c)
        if key:
            by_pair.setdefault(key[1], []).append(c)
    for _precision, group in sorted(by_pair.items()):
        for a, b in zip(group, group[1:]):
            a_out, b_out = outputs_by_label[a.label], outputs_by_label[b.label]
            a_dets = [decode(o, s.tensor.shape[2:4], decode_config, s.scale) for s, o in zip(sample_list, a_out)]
            pair = CheckResult(f"{b.label} vs {a.label}", str(b.path), a.label, a.precision, "f32", "f32")
            pair.outputs = compare_outputs(a_out, b_out, tolerance_sets[a.precision])
            pair.detections = _detections(sample_list, a_dets, b_out, decode_config)
            result.pairs.append(pair)

    result.environment = environment()
    if json_report is not None:
        atomic_write_text(json_report, json.dumps(result.to_dict(boxes=True), indent=2, default=_jsonable) + "\n")
    return result


def _mxnet_reference(input_dir, spec: ModelSpec, samples: Sequence[Sample]):
    from .runtimes import MXNetRunner

    inp = spec.input
    with MXNetRunner(input_dir, inp.shape, inp.mean_values, inp.reverse_input_channels, inp.name) as runner:
        expected = [o.name for o in spec.outputs]
        if runner.output_names != expected:
            from .errors import CheckpointError

            raise CheckpointError(f"{input_dir}: the graph's outputs are {runner.output_names}, model.yml expects {expected}")
        refs = [runner.infer(s.tensor) for s in samples]
        return refs, runner.checkpoint.hashes()


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return str(v)
    if isinstance(v, (np.floating, np.integer)):
        return _jsonable(v.item())
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v
