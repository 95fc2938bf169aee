"""MXNet's ``-symbol.json`` read without MXNet: the graph's nodes, their attributes and inputs, its heads, and the
shapes every node gives, checked against the parameters a ``.params`` file holds.

The JSON is a list of ``nodes`` in an order where each node's inputs come before it. A node has an ``op``
(``"null"`` for an input or a parameter), a ``name``, its attributes as strings (under ``attrs``; ``attr`` or
``param`` in files of older MXNet versions) and ``inputs``, each ``[node index, output index(, version)]``.
``heads`` are the graph's outputs, in order. The operations and attributes understood are the ones the SSH
network uses (:data:`OPERATIONS`), each with MXNet's meaning of its attributes and defaults; anything else is a
one-line :class:`~sshconv.errors.CheckpointError` naming the node and the operation, before anything is built.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CheckpointError
from ..fsutil import read_json_file

#: The operations of the SSH symbol (which of their attribute values are built: :func:`_shape_of`).
OPERATIONS = ("Convolution", "Deconvolution", "Activation", "Pooling", "Concat", "Reshape", "SoftmaxActivation", "Crop",
              "elemwise_add")  # fmt: skip
_ADVICE = "the symbol file is damaged or not this network's"


@dataclass(frozen=True)
class Node:
    index: int
    op: str  # "null": a graph input or a parameter
    name: str
    attrs: dict[str, str] = field(default_factory=dict)
    inputs: tuple[tuple[int, int], ...] = ()

    def tuple_attr(self, key: str, default: tuple[int, ...]) -> tuple[int, ...]:
        """An attribute such as ``kernel="(3, 3)"`` as ints (MXNet writes them as Python-like tuples)."""
        text = self.attrs.get(key)
        if text is None:
            return default
        try:
            value = ast.literal_eval(text.replace("L", ""))
        except (ValueError, SyntaxError):
            raise self.fail(f"attribute {key}={text!r} is not a tuple of integers") from None
        value = value if isinstance(value, tuple) else (value,)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise self.fail(f"attribute {key}={text!r} is not a tuple of integers")
        return tuple(value)

    def int_attr(self, key: str, default: int) -> int:
        text = self.attrs.get(key)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise self.fail(f"attribute {key}={text!r} is not an integer") from None

    def bool_attr(self, key: str, default: bool) -> bool:
        text = self.attrs.get(key)
        if text is None:
            return default
        if text.lower() not in ("true", "false", "1", "0"):
            raise self.fail(f"attribute {key}={text!r} is not true or false")
        return text.lower() in ("true", "1")

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"symbol node {self.index} {self.name!r} ({self.op}): {what}; {_ADVICE}")


@dataclass(frozen=True)
class SymbolGraph:
    path: Path
    nodes: tuple[Node, ...]
    heads: tuple[tuple[int, int], ...]

    def output_names(self) -> list[str]:
        """The heads' names, without MXNet's ``_output`` suffix."""
        return [self.nodes[i].name for i, _ in self.heads]

    def variables(self) -> list[str]:
        return [n.name for n in self.nodes if n.op == "null"]


def read_symbol(path: str | Path) -> SymbolGraph:
    """Parse and check a symbol file: the structure, each input's reference, and every operation known."""
    path = Path(path)
    try:
        doc = read_json_file(path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read ({exc.strerror or exc}); download the checkpoint again") from None
    except ValueError as exc:
        raise CheckpointError(f"{path}: not a symbol file ({exc}); {_ADVICE}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not isinstance(doc.get("heads"), list):
        raise CheckpointError(f"{path}: JSON but not an MXNet symbol (no 'nodes' and 'heads' lists); {_ADVICE}")
    nodes = tuple(_node(path, i, raw, len(doc["nodes"])) for i, raw in enumerate(doc["nodes"]))
    heads = tuple(_ref(path, f"head {k}", h, len(nodes)) for k, h in enumerate(doc["heads"]))
    if not heads:
        raise CheckpointError(f"{path}: the symbol has no outputs ('heads' is empty); {_ADVICE}")
    for node in nodes:
        if node.op != "null" and node.op not in OPERATIONS:
            raise node.fail(f"operation {node.op!r} is not one sshconv builds (it knows {', '.join(OPERATIONS)})")
    return SymbolGraph(path, nodes, heads)


def _ref(path: Path, where: str, value, below: int) -> tuple[int, int]:
    ok = isinstance(value, list) and len(value) in (2, 3) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if not ok or not 0 <= value[0] < below or value[1] != 0:
        raise CheckpointError(f"{path}: {where} refers to {value!r}, not an earlier node's output; {_ADVICE}")
    return value[0], value[1]


def _node(path: Path, index: int, raw, count: int) -> Node:
    if not isinstance(raw, dict) or not isinstance(raw.get("op"), str) or not isinstance(raw.get("name"), str):
        raise CheckpointError(f"{path}: node {index} is not an object with an 'op' and a 'name'; {_ADVICE}")
    attrs = raw.get("attrs", raw.get("attr", raw.get("param", {}))) or {}
    if not isinstance(attrs, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in attrs.items()):
        raise CheckpointError(f"{path}: node {index} {raw['name']!r}: attributes are not strings by name; {_ADVICE}")
    inputs = raw.get("inputs", [])
    if not isinstance(inputs, list):
        raise CheckpointError(f"{path}: node {index} {raw['name']!r}: 'inputs' is not a list; {_ADVICE}")
    refs = tuple(_ref(path, f"node {index} {raw['name']!r}'s input {k}", v, index) for k, v in enumerate(inputs))
    return Node(index, raw["op"], raw["name"], dict(attrs), refs)


def _conv_out(size: int, kernel: int, stride: int, pad: int, dilate: int) -> int:
    return (size + 2 * pad - dilate * (kernel - 1) - 1) // stride + 1


def _shape_of(node: Node, ins: list[tuple[int, ...]], params: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """The output shape of ``node`` from its inputs' shapes, checking the parameters it reads."""
    op, x = node.op, ins[0]
    if op in ("Convolution", "Deconvolution"):
        kernel = node.tuple_attr("kernel", ())
        if len(kernel) != 2 or len(x) != 4:
            raise node.fail(f"a 2-D kernel on a 4-D input is expected, found kernel {kernel} on {x}")
        stride, pad = node.tuple_attr("stride", (1, 1)), node.tuple_attr("pad", (0, 0))
        dilate, groups = node.tuple_attr("dilate", (1, 1)), node.int_attr("num_group", 1)
        filters = node.int_attr("num_filter", 0)
        if filters < 1 or groups < 1 or x[1] % groups or filters % groups or min(*stride, *dilate) < 1 or min(pad) < 0:
            raise node.fail(f"num_filter {filters}, num_group {groups}, stride {stride}, pad {pad} do not fit input {x}")
        want = [(filters, x[1] // groups, *kernel) if op == "Convolution" else (x[1], filters // groups, *kernel)]
        if not node.bool_attr("no_bias", op == "Deconvolution"):
            want.append((filters,))
        if len(ins) != 1 + len(want):
            raise node.fail(f"takes {1 + len(want)} inputs (data, weight{', bias' if len(want) == 2 else ''}), has {len(ins)}")
        for got, expected, what in zip(ins[1:], want, ("weight", "bias")):
            if got != expected:
                raise node.fail(f"its {what} has shape {got}, the symbol needs {expected}")
        if op == "Convolution":
            hw = [_conv_out(x[2 + i], kernel[i], stride[i], pad[i], dilate[i]) for i in range(2)]
        else:
            adj = node.tuple_attr("adj", (0, 0))
            hw = [stride[i] * (x[2 + i] - 1) + dilate[i] * (kernel[i] - 1) + 1 - 2 * pad[i] + adj[i] for i in range(2)]
        if min(hw) < 1:
            raise node.fail(f"input {x} is too small for kernel {kernel}")
        return (x[0], filters, *hw)
    if op == "Activation":
        if node.attrs.get("act_type") != "relu":
            raise node.fail(f"act_type {node.attrs.get('act_type')!r}: only relu is built")
        return x
    if op == "SoftmaxActivation":
        if node.attrs.get("mode", "instance") != "channel":
            raise node.fail(f"mode {node.attrs.get('mode', 'instance')!r}: only channel is built")
        return x
    if op == "Pooling":
        if node.attrs.get("pool_type", "max") != "max" or node.bool_attr("global_pool", False):
            raise node.fail("only max pooling over a window is built")
        kernel, stride = node.tuple_attr("kernel", ()), node.tuple_attr("stride", (1, 1))
        pad, rounding = node.tuple_attr("pad", (0, 0)), node.attrs.get("pooling_convention", "valid")
        if len(kernel) != 2 or rounding not in ("valid", "full"):
            raise node.fail(f"kernel {kernel}, pooling_convention {rounding!r}: a 2-D window, valid or full, is built")
        step = math.floor if rounding == "valid" else math.ceil
        return (*x[:2], *(step((x[2 + i] + 2 * pad[i] - kernel[i]) / stride[i]) + 1 for i in range(2)))
    if op == "Concat":
        axis = node.int_attr("dim", 1)
        if any(len(s) != len(x) or s[:axis] + s[axis + 1 :] != x[:axis] + x[axis + 1 :] for s in ins):
            raise node.fail(f"inputs of shapes {ins} cannot be joined along axis {axis}")
        return (*x[:axis], sum(s[axis] for s in ins), *x[axis + 1 :])
    if op == "elemwise_add":
        if len(ins) != 2 or ins[0] != ins[1]:
            raise node.fail(f"adds inputs of shapes {ins}, which must be equal")
        return x
    if op == "Crop":
        if node.int_attr("num_args", 1) != 2 or len(ins) != 2 or node.bool_attr("center_crop", False):
            raise node.fail("only a crop to a second input's size, from the top left, is built")
        offset, like = node.tuple_attr("offset", (0, 0)), ins[1]
        if any(offset[i] + like[2 + i] > x[2 + i] for i in range(2)):
            raise node.fail(f"cannot crop {x} to {like[2:]} at offset {offset}")
        return (*x[:2], *like[2:])
    return _reshaped(node, x)


def _reshaped(node: Node, x: tuple[int, ...]) -> tuple[int, ...]:
    """MXNet's Reshape codes: 0 copies the input's dimension, -1 takes what is left (no -2, -3, -4, reverse)."""
    spec = node.tuple_attr("shape", ())
    if node.bool_attr("reverse", False) or any(v < -1 for v in spec) or spec.count(-1) > 1:
        raise node.fail(f"shape {spec}: only 0, -1 and sizes are built")
    out = [x[i] if v == 0 and i < len(x) else v for i, v in enumerate(spec)]
    known = math.prod(v for v in out if v != -1)
    total = math.prod(x)
    if -1 in out:
        if known == 0 or total % known:
            raise node.fail(f"cannot reshape {x} to {spec}")
        out[out.index(-1)] = total // known
    if math.prod(out) != total:
        raise node.fail(f"cannot reshape {x} ({total} values) to {tuple(out)}")
    return tuple(out)


def infer_shapes(graph: SymbolGraph, params: dict[str, tuple[int, ...]], inputs: dict[str, tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Every node's output shape for these input shapes; each parameter the graph reads present with its shape.

    ``params`` maps a parameter's name (without ``arg:``/``aux:``) to its shape; ``inputs`` the graph inputs'.
    """
    shapes: list[tuple[int, ...]] = []
    for node in graph.nodes:
        if node.op == "null":
            if node.name in inputs:
                shapes.append(tuple(inputs[node.name]))
            elif node.name in params:
                shapes.append(tuple(params[node.name]))
            else:
                raise CheckpointError(f"{graph.path}: the symbol reads {node.name!r}, which the parameters file does not hold; "
                                      "params and symbol do not belong together")  # fmt: skip
            continue
        shapes.append(_shape_of(node, [shapes[i] for i, _ in node.inputs], params))
    return shapes
