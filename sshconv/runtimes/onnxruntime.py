"""ONNX Runtime: a second runtime for the ONNX artifact, on its CPU execution provider.

:class:`OnnxRuntimeRunner` runs the ``.onnx`` file that ``sshconv convert`` wrote (the
preprocessing is inside it, as in the IR), checked against model.yml's contract like
every runner: one input of the expected shape, every output with its shape. ONNX Runtime
is the ``onnxruntime`` extra, imported when the runner activates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import ModelFileError, first_line
from ..extras import EXECUTION
from ..model.spec import ModelSpec, plain_name
from .base import Runner


class OnnxRuntimeRunner(Runner):
    """An ONNX file on ONNX Runtime's CPU provider; ``execution`` is always f32 (ONNX Runtime's CPU default)."""

    name = "onnxruntime"

    def __init__(self, model: str | Path, spec: ModelSpec | None = None, input_shape: Sequence[int] | None = None) -> None:
        super().__init__(spec)
        self.model_path = Path(model)
        self.requested_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.execution = self.execution_used = EXECUTION
        self._session = None
        self._declared: tuple[int, ...] = ()
        self._input = ""
        self._outputs: list[tuple[str, str]] = []  # (model.yml name, the session's name)

    def _activate(self) -> None:
        from ..extras import require
        from .openvino import check_model_file

        ort = require("onnxruntime", "running the ONNX file with ONNX Runtime")
        path = check_model_file(self.model_path)
        if path.suffix.lower() != ".onnx":
            raise ModelFileError(f"{path}: ONNX Runtime runs .onnx files; run an IR with the openvino runtime")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: the library never prints
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types for bad files
            raise ModelFileError(f"{path}: ONNX Runtime cannot load it ({first_line(exc)}); convert it again") from None
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelFileError(f"{path}: has {len(inputs)} inputs, expected 1 (the image)")
        self._declared = tuple(d if isinstance(d, int) else -1 for d in inputs[0].shape)
        wanted = self.requested_shape or tuple(d if d != -1 else s for d, s in zip(self._declared, self.spec.input.shape))
        self._check_takes(wanted)
        self.input_shape = tuple(wanted)
        declared = {plain_name(o.name): o for o in session.get_outputs()}
        by_plain = {n: o.name for n, o in declared.items()}
        missing = [n for n in self.spec.output_names if n not in by_plain]
        if missing:
            raise ModelFileError(
                f"{path}: missing output(s) {', '.join(missing)} (found {', '.join(sorted(by_plain)) or 'none'}); "
                "this is not the SSH model"
            )
        self._session, self._input = session, inputs[0].name
        self._outputs = [(n, by_plain[n]) for n in self.spec.output_names]
        # The shapes the file declares (dynamic dimensions, as names, are left for the runtime to settle).
        for o in self.spec.outputs_for(self.input_shape[2], self.input_shape[3], self.input_shape[0]):
            shape = declared[o.name].shape
            if all(isinstance(d, int) for d in shape) and tuple(shape) != tuple(o.shape):
                raise ModelFileError(
                    f"{path}: output {o.name} has shape {tuple(shape)}, expected {tuple(o.shape)}; this is not the SSH model"
                )

    def _check_takes(self, shape: Sequence[int]) -> None:
        """A file that declares fixed dimensions runs only at them (ONNX Runtime refuses any other)."""
        if len(shape) != len(self._declared) or any(d not in (-1, s) for d, s in zip(self._declared, shape)):
            raise ModelFileError(
                f"{self.model_path}: declares a fixed input {list(self._declared)}, cannot run {tuple(shape)}; "
                "convert it again (sshconv convert writes batch, height and width as dynamic axes)"
            )

    def _reshape(self, shape: tuple[int, ...]) -> None:
        self._check_takes(shape)

    def _deactivate(self) -> None:
        self._session = None

    def infer_impl(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        values = self._session.run([s for _, s in self._outputs], {self._input: raw_bgr})
        return {n: np.asarray(v) for (n, _), v in zip(self._outputs, values)}
