"""The one comparison: a candidate's outputs against a reference's, element-wise and as detections."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from ..detection.decode import DecodeConfig, decode
from ..detection.match import match_detections
from ..model.spec import DetectionThresholds, Tolerance, output_family
from .results import CheckResult, OutputStats, Sample, SampleDetections

#: Relative error is |cand - ref| / max(|ref|, REL_ERROR_FLOOR): near-zero references do not explode it.
REL_ERROR_FLOOR = 1e-3


def shape_groups(samples: Sequence[Sample]) -> list[tuple[tuple[int, ...], list[int]]]:
    """``(input shape, sample indices)`` per input shape, in the samples' order."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(tuple(s.tensor.shape), []).append(i)
    return list(groups.items())


def compare_outputs(
    references: Sequence[Mapping[str, np.ndarray]],
    candidates: Sequence[Mapping[str, np.ndarray]],
    tolerances: Mapping[str, Tolerance],
    samples: Sequence[Sample] | None = None,
) -> list[OutputStats]:
    """Per-output statistics of ``candidates`` against ``references`` (one mapping per sample).

    With ``samples`` of several input shapes, one set of statistics per shape (each
    :class:`OutputStats` names its ``input_shape``); indices in ``argmax_*`` are the samples'.
    """
    if samples is None:
        return _compare_group(references, candidates, tolerances, list(range(len(references))), ())
    stats = []
    for shape, idx in shape_groups(samples):
        stats += _compare_group([references[i] for i in idx], [candidates[i] for i in idx], tolerances, idx, shape)
    return stats


def _compare_group(references, candidates, tolerances: Mapping[str, Tolerance], index: list[int], input_shape) -> list[OutputStats]:
    stats = []
    for name, tol in tolerances.items():
        ref0 = references[0][name]
        cand0 = candidates[0].get(name)
        s = OutputStats(
            name=name, family=output_family(name), tolerance=tol, reference_shape=tuple(ref0.shape),
            candidate_shape=None if cand0 is None else tuple(cand0.shape), reference_dtype=str(ref0.dtype),
            candidate_dtype=None if cand0 is None else str(cand0.dtype), input_shape=tuple(input_shape),
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
        i_margin = np.unravel_index(int(ratio.argmax()), ratio.shape)
        s.argmax_abs = (index[int(i_abs[0])], *(int(i) for i in i_abs[1:]))
        s.argmax_margin = (index[int(i_margin[0])], *(int(i) for i in i_margin[1:]))
        s.reference_at_max, s.candidate_at_max = float(ref[i_abs]), float(cand[i_abs])
        s.margin = float(ratio.max())
        s.violations = int((ratio > 1.0).sum())
    return stats


#: Faces within this much of the score threshold may fall either side of it without counting as
#: missed or extra: twice the class-probability tolerance of the set being checked, within these bounds.
MIN_SCORE_SLACK = 0.02
MAX_SCORE_SLACK = 0.2


def score_slack(tolerances: Mapping[str, Tolerance]) -> float:
    cls = [t.atol for name, t in tolerances.items() if output_family(name) == "cls_prob"]
    return min(MAX_SCORE_SLACK, max([MIN_SCORE_SLACK] + [2 * a for a in cls]))


def loose(config: DecodeConfig, slack: float) -> DecodeConfig:
    """``config`` decoding down to ``slack`` under its threshold: what detection parity matches on."""
    return replace(config, score_threshold=max(0.0, config.score_threshold - slack))


def faces_of(outputs: Mapping[str, np.ndarray], sample: Sample, config: DecodeConfig, slack: float):
    """One engine's faces on one sample as parity compares them: after NMS, and the pool before it.

    A batch's faces are its first image's (a batch sample stacks single-image samples so that each
    of them is the first of one batch; the element-wise comparison covers every image).
    """
    cfg = loose(config, slack)
    hw = sample.tensor.shape[2:4]
    return decode(outputs, hw, cfg, sample.scale), decode(outputs, hw, replace(cfg, nms_threshold=1.0), sample.scale)


def detections(
    samples: Sequence[Sample], ref_faces: Sequence[tuple[np.ndarray, np.ndarray]],
    candidates: Sequence[Mapping[str, np.ndarray]], config: DecodeConfig, slack: float,
) -> list[SampleDetections]:  # fmt: skip
    """Per sample: the candidate's faces matched with the reference's (``ref_faces`` from :func:`faces_of`)."""
    out = []
    threshold = config.score_threshold
    empty = np.zeros((0, 5), np.float32)
    for s, (ref, ref_pool), cand in zip(samples, ref_faces, candidates):
        try:
            dets, pool = faces_of(cand, s, config, slack)
        except (KeyError, ValueError, IndexError):
            dets, pool = empty, empty
        parity = match_detections(ref, dets, score_threshold=threshold, slack=slack,
                                  reference_pool=ref_pool, candidate_pool=pool)  # fmt: skip
        out.append(SampleDetections(s.index, ref[ref[:, 4] >= threshold], dets[dets[:, 4] >= threshold], parity,
                                    tuple(s.tensor.shape)))  # fmt: skip
    return out


def compare_run(
    check: CheckResult, references: Sequence[Mapping[str, np.ndarray]], candidates: Sequence[Mapping[str, np.ndarray]],
    tolerances: Mapping[str, Tolerance], samples: Sequence[Sample], reference_boxes: Sequence[np.ndarray] | None = None,
    config: DecodeConfig | None = None, thresholds: DetectionThresholds | None = None,
) -> CheckResult:  # fmt: skip
    """Fill ``check`` with the comparison of ``candidates`` against ``references``; faces too when ``config`` is given.

    ``reference_boxes`` are the reference's :func:`faces_of` each sample, with :func:`parity_slack`.
    With ``thresholds`` (a quantized model) the faces decide: recall and precision must reach
    them, and the element-wise statistics are informational.
    """
    check.outputs = compare_outputs(references, candidates, tolerances, samples)
    check.detection_thresholds = thresholds
    if thresholds is not None:
        for o in check.outputs:
            o.informational = True
    if config is not None and reference_boxes is not None:
        check.detections = detections(samples, reference_boxes, candidates, config, parity_slack(tolerances, thresholds))
    return check


def parity_slack(tolerances: Mapping[str, Tolerance], thresholds: DetectionThresholds | None = None) -> float:
    """The score slack of detection parity: model.yml's for a quantized model, else from the tolerances."""
    return thresholds.score_slack if thresholds is not None else score_slack(tolerances)
