"""Where a failing model first departs from MXNet, tensor by tensor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..model.spec import ModelSpec
from .results import Divergence, Sample

#: First-divergence search: a tensor diverges when max|d| / max|ref| exceeds this, per precision.
DIVERGENCE_THRESHOLD = {"FP32": 1e-4, "FP16": 1e-2, "BF16": 5e-2}


def first_divergence(
    checkpoint_dir: str | Path, model, sample: Sample, spec: ModelSpec, tolerance_set: str = "FP32",
    execution: str | None = "f32",
) -> Divergence:  # fmt: skip
    """The first tensor, in graph order, where ``model`` departs from MXNet on ``sample``.

    Compares MXNet's internals with the IR's tensors at every name both graphs share
    (Model Optimizer keeps the MXNet layer names as ``name:0``), on a separate copy of
    the model with those tensors added as outputs, so the checked graph is not touched.
    """
    from ..runtimes.mxnet import MXNetRunner
    from ..runtimes.openvino import OpenVINORunner, openvino_tensor_names

    threshold = DIVERGENCE_THRESHOLD[tolerance_set]
    with MXNetRunner(checkpoint_dir, spec, sample.tensor.shape) as mx_runner:
        mx_names = set(mx_runner.internal_names())
        shared = [n for n in openvino_tensor_names(model) if n in mx_names]
        if not shared:
            return Divergence(None, float("nan"), threshold, sample.index, note="no tensor names survived conversion")
        refs = mx_runner.infer_internals(sample.tensor, shared)
    with OpenVINORunner(model, spec, execution, sample.tensor.shape, extra_outputs=shared) as ov_runner:
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
