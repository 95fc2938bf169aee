"""The one runner factory: an :class:`~.plan.Engine` opened as a runner, whatever the command.

Verify passes the model it already read (and controls built from it), bench the performance
hint it times under, eval the threads each worker may use; everything else comes from the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .plan import Engine

#: OpenVINO's performance hints bench times under (``None``: the plugin's default, latency).
PERFORMANCE_HINTS = {"latency": None, "throughput": "THROUGHPUT"}


def open_runner(
    engine: Engine, spec=None, *, model: Any = None, input_shape: Sequence[int] | None = None, mode: str = "latency",
    threads: int | None = None,
):  # fmt: skip
    """A runner (not yet active: use it in a ``with``) for ``engine``.

    ``model`` replaces the engine's file with an ``ov.Model`` already read (OpenVINO only);
    ``input_shape`` defaults to model.yml's (an input of another shape reshapes the runner); ``mode`` picks OpenVINO's performance hint;
    ``threads`` caps OpenVINO's inference threads (MXNet's are set by ``OMP_NUM_THREADS``
    before it loads).
    """
    from ..runtimes import MXNetRunner, NumpyRunner, OnnxRuntimeRunner, OpenVINORunner

    shape = input_shape if input_shape is not None else (spec.input.shape if spec is not None else None)
    if engine.runtime == "mxnet":
        return MXNetRunner(engine.path, spec, shape)
    if engine.runtime == "numpy":
        return NumpyRunner(engine.path, spec, shape)
    if engine.runtime == "onnxruntime":
        return OnnxRuntimeRunner(engine.path, spec, shape)
    return OpenVINORunner(model if model is not None else engine.path, spec, engine.execution, shape,
                          performance_hint=PERFORMANCE_HINTS[mode], threads=threads)  # fmt: skip
