"""What every runner shares: the raw-BGR input contract, checked once, and the context-manager life cycle.

Modelled on Polygraphy's runners: ``with Runner(...) as r: outputs = r.infer(raw_bgr)``.
Every runner takes the **same raw input**, a ``float32`` array ``[1, 3, H, W]`` of BGR
pixel values 0..255 (what a camera pipeline hands the converted model), and returns
``{output name: np.ndarray}`` with model.yml's names in model.yml's order, whatever the
runtime calls them. :meth:`Runner.infer` checks the input once and calls the runner's
:meth:`Runner.infer_impl`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ModelFileError
from ..model.spec import InputSpec, ModelSpec


def default_spec() -> ModelSpec:
    """The packaged model.yml's facts, for runners created without a spec."""
    from ..model.parse import load_model_spec

    return load_model_spec()


def check_raw_input(raw_bgr: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """The input as C-contiguous float32 of exactly ``shape``, or a :class:`ModelFileError`."""
    arr = np.asarray(raw_bgr)
    if tuple(arr.shape) != tuple(shape):
        raise ModelFileError(
            f"input has shape {tuple(arr.shape)}, the model takes {tuple(shape)}; resize the image to "
            f"{shape[3]}x{shape[2]} and pass NCHW"
        )
    return np.ascontiguousarray(arr, dtype=np.float32)


def reference_preprocess(raw_bgr: np.ndarray, input_spec: InputSpec = InputSpec(), dtype=np.float32) -> np.ndarray:
    """What the original SSH code feeds MXNet: channels reversed (BGR -> RGB), then the mean subtracted, in ``dtype``
    (float32 as MXNet computes; float64 for the NumPy reference).

    The mean values are in the network's channel order (RGB), as Model Optimizer's
    ``--mean_values`` are: MO reverses the channels first, then subtracts them.
    """
    x = np.asarray(raw_bgr, dtype=dtype)
    if input_spec.reverse_input_channels:
        x = x[:, ::-1]
    if input_spec.mean_values:
        x = x - np.asarray(input_spec.mean_values, dtype=dtype).reshape(1, -1, 1, 1)
    return np.ascontiguousarray(x, dtype=dtype)


class Runner:
    """Base: ``with runner: runner.infer(x)``; activation loads the framework and the model.

    A subclass sets :attr:`input_shape` when it activates, and implements ``_activate``,
    ``_deactivate`` and ``infer_impl`` (which receives an input already checked).
    """

    name = "runner"

    def __init__(self, spec: ModelSpec | None = None) -> None:
        self.spec = spec if spec is not None else default_spec()
        self.input_shape: tuple[int, ...] = tuple(self.spec.input.shape)
        self.is_active = False

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc) -> None:
        self.deactivate()

    def activate(self) -> None:
        if not self.is_active:
            self._activate()
            self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self._deactivate()
            self.is_active = False

    def _activate(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _deactivate(self) -> None:
        pass

    def _require_active(self) -> None:
        if not self.is_active:
            raise RuntimeError(f"{self.name}: use it as a context manager (or call activate()) before infer()")

    def infer(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs ``{name: array}`` for one raw-BGR input ``N x 3 x H x W``.

        An input of another shape than :attr:`input_shape` reshapes the runner first
        (:meth:`reshape`): feed inputs grouped by shape, each change recompiles.
        """
        self._require_active()
        arr = np.asarray(raw_bgr)
        if tuple(arr.shape) != tuple(self.input_shape):
            self.reshape(arr.shape)
        return self.infer_impl(check_raw_input(arr, self.input_shape))

    def reshape(self, shape: Sequence[int]) -> None:
        """Take inputs of ``shape`` from now on (checked by :func:`~sshconv.model.shapes.check_shape`)."""
        from ..model.shapes import check_shape

        self._require_active()
        if len(shape) != 4:
            check_raw_input(np.empty(tuple(shape), np.uint8), self.input_shape)  # says what the model takes
        shape = check_shape(shape, self.spec.input.shape[1])
        if shape != tuple(self.input_shape):
            self._reshape(shape)
            self.input_shape = shape

    def _reshape(self, shape: tuple[int, ...]) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def infer_impl(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError
