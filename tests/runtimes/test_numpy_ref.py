"""The float64 NumPy interpreter of the checkpoint: MXNet's outputs (the session's golden files, which MXNet wrote on
the conversion stack) within the FP32 tolerances at the card's shape and at 1x481x777, without MXNet. (That the
comparison with it can fail: the negative controls of tests/conversion/test_native.py, each far outside.)"""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.model.parse import load_model_spec
from sshconv.runtimes.numpy_ref import NumpyRunner
from sshconv.verification.compare import compare_outputs
from sshconv.verification.golden import load_golden
from sshconv.verification.tolerances import resolve_tolerances

pytestmark = [pytest.mark.slow, pytest.mark.neutral]


def _photo(golden, shape):
    samples, refs, _ = load_golden(golden)
    i = next(k for k, s in enumerate(samples) if s.kind == "photo" and tuple(s.tensor.shape) == shape)
    return samples[i], refs[i]


def test_the_interpreter_gives_mxnets_outputs_at_two_shapes(
    checkpoint_dir, golden_file, golden_shapes_file
):
    spec = load_model_spec(checkpoint_dir / "model.yml")
    tolerances = resolve_tolerances(spec, "FP32")
    cases = [_photo(golden_file, (1, 3, 640, 640)), _photo(golden_shapes_file, (1, 3, 481, 777))]
    with NumpyRunner(checkpoint_dir, spec) as runner:
        for sample, ref in cases:
            out = runner.infer(sample.tensor)
            assert all(out[k].dtype == np.float32 and out[k].shape == ref[k].shape for k in ref)
            stats = compare_outputs([ref], [out], tolerances)
            assert all(s.passed for s in stats), [(s.name, s.margin) for s in stats]
            # far inside: float64 against MXNet's float32 (measured: a margin of about 0.01)
            assert max(s.margin for s in stats) < 0.2, [(s.name, s.margin) for s in stats]
