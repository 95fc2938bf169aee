"""What convert takes: routes, weight precisions, the input shape, the checkpoint folder, the faces artifacts' fits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import UsageError, param

#: The routes from the MXNet checkpoint to IR: Model Optimizer, MXNet's ONNX exporter, and sshconv's own builder.
ROUTES = ("mo", "onnx", "native")
#: The routes that need MXNet (the conversion stack); ``native`` needs only NumPy and OpenVINO.
MXNET_ROUTES = ("mo", "onnx")
#: How an IR stores its weights: FP32, or compressed to FP16 (computation precision is the runtime's choice).
WEIGHTS = ("FP32", "FP16")
#: The score floor a faces artifact bakes in by default (upstream's evaluation threshold); its fits: detection.fitting.
FACES_FLOOR = 0.05
#: H and W of the input shape must be multiples of this (the coarsest stride, 32).
INPUT_SHAPE_MULTIPLE = 32


def parse_input_shape(shape: str | Sequence[int] | None, default: Sequence[int]) -> tuple[int, ...]:
    """``1,3,H,W`` (text or numbers) as a tuple, H and W positive multiples of 32; else :class:`UsageError`."""
    if shape is None:
        shape = default
    text = shape if isinstance(shape, str) else ",".join(str(d) for d in shape)
    fix = f"pass {param('input_shape')} 1,3,H,W with H and W multiples of {INPUT_SHAPE_MULTIPLE}, e.g. 1,3,640,640"
    what = f"{param('input_shape')} {text!r}"
    try:
        dims = tuple(int(d) for d in text.replace(" ", "").strip("[]()").split(","))
    except ValueError:
        raise UsageError(f"{what}: not four integers; {fix}") from None
    if len(dims) != 4:
        raise UsageError(f"{what}: {len(dims)} dimensions, expected 4 (N,C,H,W); {fix}")
    n, c, h, w = dims
    if n != 1 or c != 3:
        raise UsageError(f"{what}: N,C must be 1,3 (one BGR image), got {n},{c}; {fix}")
    for axis, v in (("H", h), ("W", w)):
        if v <= 0 or v % INPUT_SHAPE_MULTIPLE:
            raise UsageError(f"{what}: {axis}={v} is not a positive multiple of {INPUT_SHAPE_MULTIPLE}; {fix}")
    return dims


def default_input_dir() -> Path:
    """Where ``sshconv download`` puts the checkpoint by default, if it is there; else :class:`UsageError`."""
    from ..model.checkpoint import PARAMS_FILE, SYMBOL_FILE
    from ..places import default_output_dir

    folder = default_output_dir()
    if not (folder / SYMBOL_FILE).exists() and not (folder / PARAMS_FILE).exists():
        raise UsageError(
            f"{param('input_dir')} not given and the download folder {folder} holds no checkpoint; "
            f"run `sshconv download` first, or pass a checkpoint folder as {param('input_dir')} (e.g. from `sshconv synth`)"
        )
    return folder


def default_routes() -> tuple[str, ...]:
    """``--via auto``: the MXNet routes where MXNet imports (the conversion stack), else ``native``."""
    from ..extras import why_missing

    return MXNET_ROUTES if why_missing("mxnet") is None else ("native",)


def choices(values: str | Iterable[str], allowed: tuple[str, ...], what: str, name: str) -> tuple[str, ...]:
    """The chosen values in ``allowed``'s order; ``all`` means every one; anything else is a :class:`UsageError`."""
    values = (values,) if isinstance(values, str) else tuple(values)
    canonical = {a.lower(): a for a in allowed}
    picked: set[str] = set()
    for v in values:
        if v.lower() == "all":
            picked.update(allowed)
        elif v.lower() in canonical:
            picked.add(canonical[v.lower()])
        else:
            raise UsageError(f"{param(name)} {v!r}: unknown {what}; choose from {', '.join(allowed)} or all")
    if not picked:
        raise UsageError(f"{param(name)}: no {what} chosen; choose from {', '.join(allowed)} or all")
    return tuple(a for a in allowed if a in picked)
