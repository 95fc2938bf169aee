"""The reference: the MXNet checkpoint, fed what the original SSH code feeds it.

:class:`MXNetRunner` does the original preprocessing itself, in NumPy (channels reversed
to RGB, RGB mean subtracted, as model.yml's input contract says), so the converted
model's baked-in preprocessing is *checked* against it, not shared with it. It can also
read intermediate tensors (``infer_internals``) for the first-divergence search.
MXNet is imported when the runner is activated.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError
from ..model.spec import ModelSpec, plain_name
from .base import Runner, check_raw_input, reference_preprocess


class MXNetRunner(Runner):
    """The MXNet checkpoint in ``checkpoint_dir`` (``sshb-symbol.json`` + ``sshb-0000.params``).

    ``infer(raw_bgr)`` preprocesses as ``spec.input`` says (reverse channels, subtract the
    mean) and returns the outputs, whose names and order must be ``spec``'s. ``infer_internals(raw_bgr, names)`` returns
    intermediate tensors by MXNet name (``conv3_1``, ``relu4_3``, ...; ``_output`` optional),
    each from a freshly bound executor (MXNet's CPU backend caches weights after a forward,
    so a bound executor is never reused with other weights).
    """

    name = "mxnet"

    def __init__(
        self, checkpoint_dir: str | Path, spec: ModelSpec | None = None, input_shape: Sequence[int] | None = None
    ) -> None:
        super().__init__(spec)
        if input_shape is not None:
            self.input_shape = tuple(int(d) for d in input_shape)
        self.checkpoint_dir = Path(checkpoint_dir)
        self.input_name = self.spec.input.name
        self.checkpoint: Any = None
        self.hashes: dict[str, str] = {}  # sha256 of the checkpoint files, once activated
        self._executor: Any = None
        self.output_names: list[str] = []

    def _activate(self) -> None:
        from ..model.checkpoint import load_checkpoint

        # Checks the files, then that MXNet can be imported (or says which extra to install).
        self.checkpoint = load_checkpoint(self.checkpoint_dir, expected_outputs=self.spec.output_names)
        import mxnet as mx

        self.hashes = self.checkpoint.hashes()
        sym = self.checkpoint.symbol
        self.output_names = [plain_name(n) for n in sym.list_outputs()]
        self._executor = self._bind(sym)
        self._mx = mx

    def _bind(self, sym):
        import mxnet as mx

        ckpt = self.checkpoint
        args = {n: ckpt.arg_params[n] for n in sym.list_arguments() if n != self.input_name}
        args[self.input_name] = mx.nd.zeros(self.input_shape)
        aux = {n: ckpt.aux_params[n] for n in sym.list_auxiliary_states()}
        try:
            return sym.bind(mx.cpu(), args=args, aux_states=aux, grad_req="null")
        except (mx.base.MXNetError, KeyError) as exc:
            raise CheckpointError(f"{self.checkpoint_dir}: cannot bind the graph for input {self.input_shape}: {exc}") from None

    def _reshape(self, shape: tuple[int, ...]) -> None:
        self._executor = None  # one executor at a time: the old one's memory goes first
        self.input_shape = shape
        self._executor = self._bind(self.checkpoint.symbol)

    def _deactivate(self) -> None:
        self._executor = None
        self.checkpoint = None

    def _forward(self, executor, raw_bgr: np.ndarray) -> list[np.ndarray]:
        x = self._mx.nd.array(reference_preprocess(raw_bgr, self.spec.input))
        outs = executor.forward(is_train=False, **{self.input_name: x})
        return [o.asnumpy() for o in outs]

    def infer_impl(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.output_names, self._forward(self._executor, raw_bgr)))

    def internal_names(self) -> list[str]:
        """Every intermediate tensor of the graph, in topological order, without ``_output``."""
        self._require_active()
        return [plain_name(n) for n in self.checkpoint.symbol.get_internals().list_outputs() if n.endswith("_output")]

    def infer_internals(self, raw_bgr: np.ndarray, names: Iterable[str]) -> dict[str, np.ndarray]:
        """Intermediate tensors ``{name: array}`` for the given MXNet node names."""
        self._require_active()
        if tuple(np.shape(raw_bgr)) != tuple(self.input_shape):
            self.reshape(np.shape(raw_bgr))
        raw_bgr = check_raw_input(raw_bgr, self.input_shape)
        internals = self.checkpoint.symbol.get_internals()
        available = set(internals.list_outputs())
        wanted = []
        for n in names:
            key = n if n.endswith("_output") else f"{n}_output"
            if key not in available:
                raise CheckpointError(f"{self.checkpoint_dir}: the graph has no tensor named {n!r}")
            wanted.append(key)
        if not wanted:
            return {}
        group = self._mx.sym.Group([internals[k] for k in wanted])
        # MXNet 1.9's MKLDNN subgraph pass fuses Convolution+ReLU even when the convolution's
        # output is itself requested, and then the ReLU output comes back unrectified (and
        # everything after it is wrong). Internals are read with graph fusion off.
        with _env(MXNET_SUBGRAPH_BACKEND="NONE", MXNET_SUBGRAPH_VERBOSE="0"):
            executor = self._bind(group)
            values = self._forward(executor, raw_bgr)
        return dict(zip([plain_name(k) for k in wanted], values))


@contextlib.contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
