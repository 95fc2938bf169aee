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

from ..errors import CheckpointError, ModelFileError, UsageError, first_line, param
from ..events import Emitter, EventHandler
from ..fsutil import ensure_dir, no_space_left, sha256_file
from ..model.checkpoint import SYMBOL_FILE, Checkpoint, load_checkpoint, read_checkpoint
from ..model.spec import ModelSpec, plain_name
from ..versions import tool_versions
from .ir import finish_ir_model, save_ir
from .manifest import ONNX_INPUT_DIMS, Artifact, Manifest, input_contract, ir_path, onnx_path, remove_manifest
from .options import MXNET_ROUTES, ROUTES, WEIGHTS, choices, default_routes, parse_input_shape


def convert(
    spec: ModelSpec,
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    via: str | Iterable[str] = "auto",
    precisions: str | Iterable[str] = WEIGHTS,
    input_shape: str | Sequence[int] | None = None,
    on_event: EventHandler | None = None,
) -> Manifest:
    """Convert the checkpoint in ``input_dir`` to IR in ``output_dir``; return the manifest.

    ``via`` picks the routes (``mo``, ``onnx``, ``native``, ``all``, or ``auto``: :func:`~.options.default_routes`), ``precisions`` how the IR stores
    its weights (``FP32``, ``FP16``: compressed, or ``all``), ``input_shape`` the IR's input
    shape (default: model.yml's). Progress goes to ``on_event`` (stage ``convert``: ``start``,
    ``progress`` per step, ``artifact`` per file written, ``done``). The manifest is also
    written to ``output_dir/manifest.json``, last.
    """
    t_start = time.perf_counter()
    routes = choices(default_routes() if via == "auto" else via, ROUTES, "route", "via")
    weights = choices(precisions, WEIGHTS, "weight precision", "precisions")
    shape = parse_input_shape(input_shape, spec.input.shape)
    emit = Emitter("convert", on_event)
    steps = 1 + len(routes)
    emit.start(steps, item=str(output_dir))

    # The checkpoint, read by MXNet for its routes, and by NumPy alone for the native one (then MXNet is not needed).
    input_dir = Path(input_dir)
    t0 = time.perf_counter()
    ckpt = native = None
    if set(routes) & set(MXNET_ROUTES):
        ckpt = load_checkpoint(input_dir, expected_outputs=spec.output_names)
        found = dict(_output_shapes(ckpt, shape))
    if "native" in routes:
        native = read_checkpoint(input_dir, spec.output_names, spec.input.name, shape)
        shapes = native.shapes(spec.input.name, shape)
        found = {native.graph.nodes[i].name: shapes[i] for i, _ in native.graph.heads}
    outputs = _checked_outputs(spec, input_dir / SYMBOL_FILE, found, shape)
    source = {
        "folder": str(input_dir.absolute()),
        "files": {name: {"sha256": digest, "size": (input_dir / name).stat().st_size}
                  for name, digest in (ckpt or native).hashes().items()},
    }  # fmt: skip
    timings: dict[str, float] = {"load_checkpoint": time.perf_counter() - t0}
    step = 1
    emit.progress(step, steps, item="checkpoint", seconds=round(timings["load_checkpoint"], 3))

    writer = _Writer(output_dir, weights, emit)

    if "mo" in routes:
        from .mo import mo_model

        t0 = time.perf_counter()
        model = mo_model(spec, input_dir, shape)
        finish_ir_model(model, spec, outputs, _mxnet_names(ckpt))
        writer.save_irs(model, "mo")
        timings["mo"] = time.perf_counter() - t0
        step += 1
        emit.progress(step, steps, item="mo", seconds=round(timings["mo"], 3))

    if "onnx" in routes:
        from .mxnet_onnx import export_onnx, onnx_to_ov

        t0 = time.perf_counter()
        onnx_file = onnx_path(writer.out)
        with no_space_left(writer.out):
            onnx_names = export_onnx(ckpt, spec, shape, outputs, onnx_file)
        writer.record(onnx_file, "onnx", "FP32", "onnx", ONNX_INPUT_DIMS)
        timings["onnx_export"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        model = onnx_to_ov(onnx_file, shape)
        finish_ir_model(model, spec, outputs, onnx_names)
        writer.save_irs(model, "onnx")
        timings["onnx_to_ir"] = time.perf_counter() - t1
        timings["onnx"] = time.perf_counter() - t0
        step += 1
        emit.progress(step, steps, item="onnx", seconds=round(timings["onnx"], 3))

    if "native" in routes:
        from .native import native_model

        t0 = time.perf_counter()
        model = native_model(native, spec, shape)
        finish_ir_model(model, spec, outputs, {n.name for n in native.graph.nodes})
        writer.save_irs(model, "native")
        timings["native"] = time.perf_counter() - t0
        step += 1
        emit.progress(step, steps, item="native", seconds=round(timings["native"], 3))

    timings["total"] = time.perf_counter() - t_start
    return writer.finish(spec, routes, shape, outputs, source, timings)


def convert_onnx(
    spec: ModelSpec,
    onnx_file: str | Path,
    output_dir: str | Path,
    *,
    precisions: str | Iterable[str] = WEIGHTS,
    on_event: EventHandler | None = None,
) -> Manifest:
    """The ONNX artifact (preprocessing already inside) to IR with the installed OpenVINO's own converter.

    Needs no MXNet: a deployment team regenerates the IR with the OpenVINO it ships and
    proves it against a golden file. Writes ``output_dir/ir/onnx/<weights>/`` and a manifest
    whose ``source`` names the ONNX file and the converter's version.
    """
    import openvino as ov

    from ..runtimes.openvino import check_model_contract, check_model_file
    from ..versions import openvino_version

    t_start = time.perf_counter()
    weights = choices(precisions, WEIGHTS, "weight precision", "precisions")
    path = check_model_file(onnx_file)
    if path.suffix.lower() != ".onnx":
        raise ModelFileError(f"{path}: expected the .onnx file that `sshconv convert` wrote")
    emit = Emitter("convert", on_event)
    emit.start(2, item=str(output_dir))
    try:
        model = ov.convert_model(str(path))
    except Exception as exc:  # noqa: BLE001 - OpenVINO's frontends raise several types for a bad file
        raise ModelFileError(
            f"{path}: OpenVINO cannot convert it ({first_line(exc)}); pass the ONNX file convert wrote"
        ) from None
    # A file with dynamic axes (as convert writes them) gets model.yml's shape; its IRs reshape like any other.
    model = check_model_contract(model, str(path), spec, spec.input.shape if model.inputs[0].get_partial_shape().is_dynamic else None)
    shape = tuple(int(d) for d in model.inputs[0].get_partial_shape().to_shape())
    outputs = [(o.name, tuple(o.shape)) for o in spec.outputs_for(shape[2], shape[3])]
    # The ONNX graph's tensor names are the source names; anything else OpenVINO generated loses its counter.
    known = {plain_name(n) for op in model.get_ordered_ops() for port in op.outputs() for n in port.get_names()}
    timings = {"onnx_to_ir": time.perf_counter() - t_start}
    emit.progress(1, 2, item="read", seconds=round(timings["onnx_to_ir"], 3))
    writer = _Writer(output_dir, weights, emit)
    finish_ir_model(model, spec, outputs, known)
    writer.save_irs(model, "onnx")
    timings["total"] = time.perf_counter() - t_start
    emit.progress(2, 2, item="onnx", seconds=round(timings["total"], 3))
    source = {
        "folder": str(path.parent.absolute()),
        "onnx": path.name,
        "files": {path.name: {"sha256": sha256_file(path), "size": path.stat().st_size}},
        "converter": f"openvino.convert_model {openvino_version()}",
    }
    return writer.finish(spec, ("onnx",), shape, outputs, source, timings)


class _Writer:
    """Writes a conversion's artifacts into one folder, records each, and writes the manifest last."""

    def __init__(self, output_dir: str | Path, weights: Sequence[str], emit: Emitter):
        self.out = ensure_dir(output_dir)
        self.weights = list(weights)
        self.emit = emit
        self.artifacts: list[Artifact] = []
        # A manifest from an earlier run would describe files this run is about to replace:
        # remove it first, so that a folder without manifest.json reads as "incomplete".
        remove_manifest(self.out)

    def record(self, path: Path, route: str, weights: str, kind: str, input_shape=()) -> None:
        self.artifacts.append(Artifact.of_file(self.out, path, kind, route, weights, input_shape))
        self.emit("artifact", item=self.artifacts[-1].path, **self.artifacts[-1].to_dict())

    def save_irs(self, model, route: str) -> None:
        for w in self.weights:
            xml = save_ir(model, ir_path(self.out, route, w), w)
            self.record(xml, route, w, "ir-xml", model.inputs[0].get_partial_shape().to_shape())
            self.record(xml.with_suffix(".bin"), route, w, "ir-bin")

    def finish(self, spec: ModelSpec, routes, shape, outputs, source: dict, timings: dict[str, float]) -> Manifest:
        manifest = Manifest(
            folder=self.out,
            artifacts=self.artifacts,
            routes=list(routes),
            weights=self.weights,
            input=input_contract(spec, shape),
            outputs=[{"name": name, "shape": list(s)} for name, s in outputs],
            source=source,
            tools=tool_versions(),
            timings=timings,
            model_yml=str(spec.path),
        )
        manifest.write()
        self.emit("done", item=str(manifest.path), seconds=round(timings["total"], 3))
        return manifest


def _output_shapes(ckpt: Checkpoint, shape: tuple[int, ...]) -> list[tuple[str, tuple[int, ...]]]:
    """Each output's name and shape for ``shape``, as MXNet infers them."""
    from ..model.network import output_shapes

    try:
        return output_shapes(ckpt.symbol, shape)
    except Exception as exc:  # MXNetError: the graph does not accept this shape
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise CheckpointError(f"{ckpt.symbol_path}: cannot infer output shapes for input {list(shape)} ({first})") from None


def _checked_outputs(spec: ModelSpec, symbol_path: Path, found: dict, shape) -> list[tuple[str, tuple[int, ...]]]:
    """The outputs' names and shapes in model.yml's order, each checked against model.yml's."""
    for o in spec.outputs_for(shape[2], shape[3]):
        if tuple(found[o.name]) != tuple(o.shape):
            raise CheckpointError(
                f"{symbol_path}: output {o.name} has shape {list(found[o.name])} for input {list(shape)}, "
                f"model.yml expects {list(o.shape)}; this is a different network (or model.yml's `outputs` is wrong)"
            )
    return [(o.name, tuple(found[o.name])) for o in spec.outputs]


def _mxnet_names(ckpt: Checkpoint) -> set[str]:
    return {node["name"] for node in json.loads(ckpt.symbol.tojson())["nodes"]}


def convert_from(
    spec: ModelSpec,
    output_dir: str | Path,
    *,
    input_dir: str | Path | None = None,
    from_onnx: str | Path | None = None,
    via: str | Iterable[str] = "auto",
    precisions: str | Iterable[str] = WEIGHTS,
    input_shape: str | Sequence[int] | None = None,
    faces=None,
    on_event: EventHandler | None = None,
) -> Manifest:
    """What ``sshconv convert`` does: :func:`convert` the checkpoint (``input_dir``, default the download
    folder), or :func:`convert_onnx` an ONNX artifact (``from_onnx``), with the combinations checked here;
    with ``faces`` (:class:`~.faces_graph.FacesOptions`), a faces artifact beside each model (:mod:`.faces`)."""
    if from_onnx is not None:
        if input_dir is not None or input_shape is not None or via not in ("all", "auto", ROUTES):
            raise UsageError(
                f"convert: {param('from_onnx')} takes the ONNX file's own input shape and route; "
                f"drop {param('input_dir')}, {param('input_shape')} and {param('via')}"
            )
        manifest = convert_onnx(spec, from_onnx, output_dir, precisions=precisions, on_event=on_event)
    else:
        from .options import default_input_dir

        input_dir = input_dir if input_dir is not None else default_input_dir()
        manifest = convert(spec, input_dir, output_dir, via=via, precisions=precisions, input_shape=input_shape,
                           on_event=on_event)  # fmt: skip
    if faces is not None:  # ``faces``: FacesOptions; a faces artifact beside every model just written
        from .faces import add_faces

        manifest = add_faces(spec, output_dir, faces)
    return manifest
