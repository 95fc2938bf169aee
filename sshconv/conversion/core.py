"""MXNet checkpoint -> OpenVINO IR, by two routes, with the input preprocessing baked in.

Routes:

* ``mo`` (:mod:`.mo`): Model Optimizer's MXNet front end (``openvino.tools.mo.convert_model``),
  driven by model.yml's ``model_optimizer_args`` with ``$dl_dir`` replaced by the checkpoint folder.
* ``onnx`` (:mod:`.mxnet_onnx`): MXNet's own exporter writes ONNX, the channel reversal
  and mean subtraction are put in front of the graph, and OpenVINO's converter
  (``openvino.convert_model``) turns that ONNX file into IR.

Both IRs, and the ONNX file, take **raw BGR pixels 0..255, NCHW** in one input and give the
outputs under the plain names of model.yml, in its order (:mod:`.ir`). What was made is
recorded in the manifest (:mod:`.manifest`), the last file written.

Nothing appears at a final path until it is complete: every file is written under a
temporary name in its own folder and renamed (:func:`sshconv.fsutil.atomic_path`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import CheckpointError
from ..events import Emitter, EventHandler
from ..fsutil import ensure_dir
from ..model.checkpoint import Checkpoint, load_checkpoint
from ..model.spec import ModelSpec
from ..versions import tool_versions
from .ir import finish_ir_model, save_ir
from .manifest import Artifact, Manifest, input_contract, ir_path, onnx_path, remove_manifest
from .options import ROUTES, WEIGHTS, choices, parse_input_shape


def convert(
    spec: ModelSpec,
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    via: str | Iterable[str] = ROUTES,
    precisions: str | Iterable[str] = WEIGHTS,
    input_shape: str | Sequence[int] | None = None,
    on_event: EventHandler | None = None,
) -> Manifest:
    """Convert the checkpoint in ``input_dir`` to IR in ``output_dir``; return the manifest.

    ``via`` picks the routes (``mo``, ``onnx`` or ``all``), ``precisions`` how the IR stores
    its weights (``FP32``, ``FP16``: compressed, or ``all``), ``input_shape`` the IR's input
    shape (default: model.yml's). Progress goes to ``on_event`` (stage ``convert``: ``start``,
    ``progress`` per step, ``artifact`` per file written, ``done``). The manifest is also
    written to ``output_dir/manifest.json``, last.
    """
    t_start = time.perf_counter()
    routes = choices(via, ROUTES, "route", "via")
    weights = choices(precisions, WEIGHTS, "weight precision", "precisions")
    shape = parse_input_shape(input_shape, spec.input.shape)
    emit = Emitter("convert", on_event)
    steps = 1 + len(routes)
    emit.start(steps, item=str(output_dir))

    input_dir = Path(input_dir)
    t0 = time.perf_counter()
    ckpt = load_checkpoint(input_dir, expected_outputs=spec.output_names)
    outputs = _output_shapes(spec, ckpt, shape)
    source = {
        "folder": str(input_dir.absolute()),
        "files": {name: {"sha256": digest, "size": (input_dir / name).stat().st_size} for name, digest in ckpt.hashes().items()},
    }
    timings: dict[str, float] = {"load_checkpoint": time.perf_counter() - t0}
    emit.progress(1, steps, item="checkpoint", seconds=round(timings["load_checkpoint"], 3))

    out = ensure_dir(output_dir)
    # A manifest from an earlier run would describe files this run is about to replace:
    # remove it first, so that a folder without manifest.json reads as "incomplete".
    remove_manifest(out)
    artifacts: list[Artifact] = []

    def record(path: Path, route: str, weight: str, kind: str) -> None:
        artifacts.append(Artifact.of_file(out, path, kind, route, weight))
        emit("artifact", item=artifacts[-1].path, **artifacts[-1].to_dict())

    def save_all(model, route: str) -> None:
        for w in weights:
            xml = save_ir(model, ir_path(out, route, w), w)
            record(xml, route, w, "ir-xml")
            record(xml.with_suffix(".bin"), route, w, "ir-bin")

    if "mo" in routes:
        from .mo import mo_model

        t0 = time.perf_counter()
        model = mo_model(spec, input_dir, shape)
        finish_ir_model(model, spec, outputs, _mxnet_names(ckpt))
        save_all(model, "mo")
        timings["mo"] = time.perf_counter() - t0
        emit.progress(2, steps, item="mo", seconds=round(timings["mo"], 3))

    if "onnx" in routes:
        from .mxnet_onnx import export_onnx, onnx_to_ov

        t0 = time.perf_counter()
        onnx_file = onnx_path(out)
        onnx_names = export_onnx(ckpt, spec, shape, outputs, onnx_file)
        record(onnx_file, "onnx", "FP32", "onnx")
        timings["onnx_export"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        model = onnx_to_ov(onnx_file)
        finish_ir_model(model, spec, outputs, onnx_names)
        save_all(model, "onnx")
        timings["onnx_to_ir"] = time.perf_counter() - t1
        timings["onnx"] = time.perf_counter() - t0
        emit.progress(steps, steps, item="onnx", seconds=round(timings["onnx"], 3))

    timings["total"] = time.perf_counter() - t_start
    manifest = Manifest(
        folder=out,
        artifacts=artifacts,
        routes=list(routes),
        weights=list(weights),
        input=input_contract(spec, shape),
        outputs=[{"name": name, "shape": list(s)} for name, s in outputs],
        source=source,
        tools=tool_versions(),
        timings=timings,
        model_yml=str(spec.path),
    )
    manifest.write()
    emit("done", item=str(manifest.path), seconds=round(timings["total"], 3))
    return manifest


def _output_shapes(spec: ModelSpec, ckpt: Checkpoint, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Each output's name and shape for ``shape``, in model.yml's order; checked against model.yml."""
    from ..model.network import output_shapes

    try:
        found = dict(output_shapes(ckpt.symbol, shape))
    except Exception as exc:  # MXNetError: the graph does not accept this shape
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise CheckpointError(f"{ckpt.symbol_path}: cannot infer output shapes for input {list(shape)} ({first})") from None
    for o in spec.outputs_for(shape[2], shape[3]):
        if tuple(found[o.name]) != tuple(o.shape):
            raise CheckpointError(
                f"{ckpt.symbol_path}: output {o.name} has shape {list(found[o.name])} for input {list(shape)}, "
                f"model.yml expects {list(o.shape)}; this is a different network (or model.yml's `outputs` is wrong)"
            )
    return [(o.name, tuple(found[o.name])) for o in spec.outputs]


def _mxnet_names(ckpt: Checkpoint) -> set[str]:
    return {node["name"] for node in json.loads(ckpt.symbol.tojson())["nodes"]}
