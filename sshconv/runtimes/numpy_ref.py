"""A reference that needs no MXNet: the checkpoint's symbol interpreted in float64 NumPy, operation by operation.

Written to be read, not to be fast: each operation of the SSH symbol (:data:`~sshconv.model.symbol_file.OPERATIONS`)
is a few lines with MXNet's meaning of its attributes, computed in float64 so that its rounding is far below what
any float32 engine's is. The symbol and parameters are read by :mod:`sshconv.model.symbol_file` and
:mod:`sshconv.model.params_file`, and fed what the original SSH code feeds MXNet (channels reversed, mean
subtracted: :func:`~.base.reference_preprocess`, here in float64).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..model.spec import ModelSpec
from ..model.symbol_file import Node, SymbolGraph, infer_shapes
from .base import Runner, reference_preprocess


def _windows(x: np.ndarray, kernel, stride, dilate, out_hw):
    """``(i, j, view)`` for each kernel offset: the input values that offset meets at every output position."""
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows = slice(i * dilate[0], i * dilate[0] + stride[0] * (out_hw[0] - 1) + 1, stride[0])
            cols = slice(j * dilate[1], j * dilate[1] + stride[1] * (out_hw[1] - 1) + 1, stride[1])
            yield i, j, x[:, :, rows, cols]


def convolution(x, weight, bias, stride, pad, dilate, groups, out_hw):
    """MXNet's Convolution: ``out[n, o] = bias[o] + sum over the group's channels and the kernel of weight * input``."""
    n, c = x.shape[:2]
    filters = weight.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    out = np.zeros((n, groups, filters // groups, out_hw[0] * out_hw[1]))
    w = weight.reshape(groups, filters // groups, c // groups, *weight.shape[2:])
    for i, j, view in _windows(xp, weight.shape[2:], stride, dilate, out_hw):
        # contiguous operands: NumPy hands each product to BLAS (a strided one can take 30 times as long)
        out += np.ascontiguousarray(w[:, :, :, i, j]) @ np.ascontiguousarray(view).reshape(n, groups, c // groups, -1)
    out = out.reshape(n, filters, *out_hw)
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def deconvolution(x, weight, bias, stride, pad, dilate, groups, adj, out_hw):
    """MXNet's Deconvolution (the transpose of a convolution): each input value spreads ``weight`` over the output."""
    n, c, h, w_in = x.shape
    per_group = weight.shape[1]  # weight: (input channels, filters per group, kh, kw)
    kernel = weight.shape[2:]
    full = [stride[k] * ((h, w_in)[k] - 1) + dilate[k] * (kernel[k] - 1) + 1 + adj[k] for k in range(2)]
    out = np.zeros((n, groups * per_group, *full))
    wg = weight.reshape(groups, c // groups, per_group, *kernel)
    xg = np.ascontiguousarray(x).reshape(n, groups, c // groups, h * w_in)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            spread = np.ascontiguousarray(np.swapaxes(wg[:, :, :, i, j], 1, 2)) @ xg  # (n, groups, per_group, h * w)
            rows = slice(i * dilate[0], i * dilate[0] + stride[0] * (h - 1) + 1, stride[0])
            cols = slice(j * dilate[1], j * dilate[1] + stride[1] * (w_in - 1) + 1, stride[1])
            out[:, :, rows, cols] += spread.reshape(n, -1, h, w_in)
    out = out[:, :, pad[0] : pad[0] + out_hw[0], pad[1] : pad[1] + out_hw[1]]
    return out if bias is None else out + bias.reshape(1, -1, 1, 1)


def max_pooling(x, kernel, stride, pad, out_hw):
    """MXNet's max Pooling: padding never wins (it is -inf), and a ``full`` window past the edge sees only the input."""
    need = [stride[k] * (out_hw[k] - 1) + kernel[k] for k in range(2)]
    extra = [max(0, need[k] - x.shape[2 + k] - pad[k]) for k in range(2)]
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], extra[0]), (pad[1], extra[1])), constant_values=-np.inf)
    out = np.full((*x.shape[:2], *out_hw), -np.inf)
    for _, _, view in _windows(xp, kernel, stride, (1, 1), out_hw):
        np.maximum(out, view, out=out)
    return out


def channel_softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run_node(node: Node, ins: list[np.ndarray], out_shape: tuple[int, ...]) -> np.ndarray:
    """One operation of the graph, its inputs' values given, its output's shape already inferred."""
    op = node.op
    if op in ("Convolution", "Deconvolution"):
        x, weight, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        args = (node.tuple_attr("stride", (1, 1)), node.tuple_attr("pad", (0, 0)), node.tuple_attr("dilate", (1, 1)),
                node.int_attr("num_group", 1))  # fmt: skip
        if op == "Convolution":
            return convolution(x, weight, bias, *args, out_shape[2:])
        return deconvolution(x, weight, bias, *args, node.tuple_attr("adj", (0, 0)), out_shape[2:])
    if op == "Activation":
        return np.maximum(ins[0], 0.0)
    if op == "Pooling":
        return max_pooling(ins[0], node.tuple_attr("kernel", ()), node.tuple_attr("stride", (1, 1)),
                           node.tuple_attr("pad", (0, 0)), out_shape[2:])  # fmt: skip
    if op == "Concat":
        return np.concatenate(ins, axis=node.int_attr("dim", 1))
    if op == "Reshape":
        return ins[0].reshape(out_shape)
    if op == "SoftmaxActivation":
        return channel_softmax(ins[0])
    if op == "Crop":
        oy, ox = node.tuple_attr("offset", (0, 0))
        return ins[0][:, :, oy : oy + out_shape[2], ox : ox + out_shape[3]]
    if op == "elemwise_add":
        return ins[0] + ins[1]
    raise node.fail("no NumPy implementation")  # read_symbol refuses such a node first


def interpret(graph: SymbolGraph, params: dict[str, np.ndarray], inputs: dict[str, np.ndarray],
              keep: Sequence[str] = ()) -> dict[str, np.ndarray]:  # fmt: skip
    """The heads' values (and those of the nodes named in ``keep``) by node name; each value is dropped once no
    later node reads it, so memory holds only what is still needed."""
    shapes = infer_shapes(graph, {k: v.shape for k, v in params.items()}, {k: v.shape for k, v in inputs.items()})
    last_use = {}
    for node in graph.nodes:
        for i, _ in node.inputs:
            last_use[i] = node.index
    wanted = {i for i, _ in graph.heads} | {n.index for n in graph.nodes if n.name in keep}
    values: dict[int, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for node in graph.nodes:
        if node.op == "null":
            source = inputs if node.name in inputs else params
            values[node.index] = np.asarray(source[node.name], dtype=np.float64)
        else:
            values[node.index] = run_node(node, [values[i] for i, _ in node.inputs], shapes[node.index])
        if node.index in wanted:
            out[node.name] = values[node.index]
        for i, _ in node.inputs:
            if last_use.get(i) == node.index and i not in wanted:
                values.pop(i, None)
    return out


class NumpyRunner(Runner):
    """The checkpoint in ``checkpoint_dir`` run by :func:`interpret` in float64, fed as MXNet is: the reference of a
    machine without MXNet. Its outputs are float32 as every runner's, rounded from float64 values whose own error is
    far below float32's rounding."""

    name = "numpy"

    def __init__(self, checkpoint_dir: str | Path, spec: ModelSpec | None = None, input_shape: Sequence[int] | None = None):
        super().__init__(spec)
        if input_shape is not None:
            self.input_shape = tuple(int(d) for d in input_shape)
        self.checkpoint_dir = Path(checkpoint_dir)
        self.graph: SymbolGraph | None = None
        self.params: dict[str, np.ndarray] = {}

    def _activate(self) -> None:
        from ..model.checkpoint import read_checkpoint

        ckpt = read_checkpoint(self.checkpoint_dir, self.spec.output_names, self.spec.input.name, self.input_shape)
        self.graph = ckpt.graph
        self.params = {k: v.astype(np.float64) for k, v in ckpt.params.items()}  # once, not every frame

    def _deactivate(self) -> None:
        self.graph, self.params = None, {}

    def infer_impl(self, raw_bgr: np.ndarray) -> dict[str, np.ndarray]:
        x = reference_preprocess(raw_bgr, self.spec.input, np.float64)
        out = interpret(self.graph, self.params, {self.spec.input.name: x})
        # computed in float64, handed over as every runner's are: float32, each the nearest to the exact value
        return {name: out[name].astype(np.float32) for name in self.spec.output_names}

    def _reshape(self, shape: tuple[int, ...]) -> None:  # nothing is bound: the shapes only need to fit
        infer_shapes(self.graph, {k: v.shape for k, v in self.params.items()}, {self.spec.input.name: shape})
