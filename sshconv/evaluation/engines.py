"""The engines an evaluation runs: the one plan of :mod:`sshconv.engines`, with eval's own rule of what is enough.

``mxnet`` is the checkpoint folder; a conversion folder gives every model its manifest lists
(``ir/<route>/<weights>``, ``onnx``), checked by hash; model files given by path are ``ir`` /
``onnx`` (``ir:<path>`` when several). Every model file is hashed once, when planned: the
ledger keeps the hashes so that a resumed run refuses a changed model, and remote workers
check the copies they get.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..engines import Engine, plan_engines
from ..errors import UsageError, param


def find_engines(
    input_dir: str | Path | None = None, artifacts: str | Path | None = None, irs: Sequence[str | Path] = ()
) -> list[Engine]:
    """MXNet (when ``input_dir`` is given), then every model of ``artifacts`` or each of ``irs`` (IR or ONNX files)."""
    if input_dir is None and artifacts is None and not irs:
        raise UsageError(f"eval: nothing to evaluate; pass {param('input_dir')}, {param('artifacts')} or {param('irs')}")
    onnx = [p for p in irs if Path(p).suffix.lower() == ".onnx"]
    xml = [p for p in irs if Path(p).suffix.lower() != ".onnx"]
    return plan_engines(input_dir=input_dir, artifacts=artifacts, irs=xml, onnx=onnx).engines
