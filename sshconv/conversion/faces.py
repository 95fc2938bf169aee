"""Faces artifacts: each raw model of a conversion folder with the faces wrapper around it (``--faces``).

``O/ir/<route>/<weights>/ssh-mxnet-faces.{xml,bin}`` and ``O/onnx/ssh-mxnet-faces.onnx``, listed in
the manifest (kinds ``faces-ir-xml``, ``faces-ir-bin``, ``faces-onnx``) with what they bake in
(``manifest.faces``). The ONNX file is the raw ONNX graph with the wrapper's nodes spliced before
and after it; an IR is the raw IR with the wrapper (read by OpenVINO from the same ONNX graph)
stitched around it, and carries OpenVINO's ``model_info`` runtime metadata so that OpenVINO Model
API opens it as a detection model (``model_type`` SSD, its ``bboxes``/``scores``/``labels`` outputs).
Needs the ``onnx`` package (the convert extra) to build; any OpenVINO runs the results.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from ..detection.fitting import FACES_FITS
from ..errors import ModelFileError, UsageError, first_line, param
from ..fsutil import atomic_path, no_space_left
from ..model.spec import ModelSpec, plain_name
from .faces_graph import FRAME, OUTPUTS, FacesOptions, wrapper_model
from .ir import save_ir
from .manifest import Artifact, Manifest, faces_path, read_manifest

#: Model API's detection wrapper settings written into every faces IR (``model_info``).
MODEL_API_TYPE = "SSD"
LABEL = "face"
#: What Model API's results keep by default (``sshconv detect``'s default threshold).
CONFIDENCE = 0.5


def check_faces_fit(fit: str) -> str:
    """``none``, ``upstream``, ``native`` or ``HxW``; else a one-line :class:`UsageError`."""
    from ..detection.fitting import check_fit

    return check_fit(fit, FACES_FITS, param("faces_fit"))


def splice_onnx(raw, wrapper):
    """One ONNX graph: the wrapper's nodes up to ``data``, the raw network's, then the wrapper's decoding."""
    from onnx import helper

    data = raw.graph.input[0].name
    nodes = list(wrapper.graph.node)
    cut = next(i for i, n in enumerate(nodes) if data in n.output) + 1
    graph = helper.make_graph(
        nodes[:cut] + list(raw.graph.node) + nodes[cut:], "ssh-mxnet-faces",
        [i for i in wrapper.graph.input if i.name == FRAME], [o for o in wrapper.graph.output if o.name in OUTPUTS],
        initializer=list(wrapper.graph.initializer) + list(raw.graph.initializer),
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=list(raw.opset_import), producer_name="sshconv")
    model.ir_version = raw.ir_version
    return model


def stitch(raw_model, wrapper_model_ov, spec: ModelSpec):
    """The raw ``ov.Model`` with the wrapper (an ``ov.Model`` read from its ONNX graph) around it."""
    import openvino as ov

    results = {}
    for out in wrapper_model_ov.outputs:
        for n in out.get_names():
            results[plain_name(n)] = out.get_node()
    raw_outputs = {plain_name(n): out.get_node().input_value(0) for out in raw_model.outputs for n in out.get_names()}
    # The raw network's input now comes from the fitting...
    fitted = results[spec.input.name].input_value(0)
    for target in raw_model.get_parameters()[0].output(0).get_target_inputs():
        target.replace_source_output(fitted)
    # ...and its six outputs feed the decoding.
    frame = None
    for p in wrapper_model_ov.get_parameters():
        name = plain_name(p.get_friendly_name())
        if name == FRAME:
            frame = p
            continue
        for target in p.output(0).get_target_inputs():
            target.replace_source_output(raw_outputs[name])
    frame.set_layout(ov.Layout("NHWC"))
    model = ov.Model([results[n] for n in OUTPUTS], [frame], "ssh-mxnet-faces")
    model.validate_nodes_and_infer_types()  # the raw network's shapes were its stored input's: now the frame's
    return model


def model_info(spec: ModelSpec, options: FacesOptions) -> dict[str, str]:
    """Model API's ``model_info`` for a faces IR (strings, as OpenVINO stores runtime info)."""
    h, w = spec.input.shape[2:]
    return {
        "model_type": MODEL_API_TYPE,
        "labels": LABEL,
        "confidence_threshold": str(CONFIDENCE),
        "iou_threshold": str(options.config.nms_threshold),
        # The fitting, the preprocessing, decoding and NMS are inside: Model API hands the frame over as it is.
        "embedded_processing": "True",
        "orig_height": str(h),
        "orig_width": str(w),
    }


def faces_facts(spec: ModelSpec, options: FacesOptions) -> dict[str, str]:
    """What the faces model does inside, for people reading its runtime info (``sshconv`` section)."""
    from .manifest import preprocessing_text

    facts = {k: str(v) for k, v in options.to_dict().items()}
    facts.update({"input": f"{FRAME}: uint8 N x H x W x 3, BGR, as OpenCV decodes a frame",
                  "preprocessing": preprocessing_text(spec),
                  "outputs": "faces: K x 5 (x1, y1, x2, y2, score) in the frame's pixels; face_image: K; "
                             "bboxes 1 x K x 4 (divided by the frame's width, height), scores 1 x K, labels 1 x K"})  # fmt: skip
    return facts


def faces_ir(raw_model, wrapper_file: Path, spec: ModelSpec, options: FacesOptions):
    """The faces ``ov.Model`` of a raw one, runtime info set."""
    import openvino as ov

    model = stitch(raw_model, ov.Core().read_model(str(wrapper_file)), spec)
    for key, value in model_info(spec, options).items():
        model.set_rt_info(value, ["model_info", key])
    for key, value in faces_facts(spec, options).items():
        model.set_rt_info(value, ["sshconv", key])
    return model


def check_faces_options(options: FacesOptions) -> FacesOptions:
    """``options`` if its fit is one a faces artifact takes and its floor a probability; else a one-line :class:`UsageError`."""
    if not 0.0 <= options.floor < 1.0:
        raise UsageError(f"{param('faces_floor')} {options.floor}: expected a probability in [0, 1)")
    return replace(options, fit=check_faces_fit(options.fit))  # a size as 640x640, however it was written


def check_same_faces(folder: str | Path, options: FacesOptions) -> Manifest:
    """``folder``'s manifest, if ``options`` are valid and its faces artifacts (if any) bake in the same; else a
    one-line :class:`UsageError`."""
    check_faces_options(options)
    manifest = read_manifest(folder)
    before = {k: v for k, v in manifest.faces.items() if k != "from"}
    if before and manifest.faces_models() and before != options.to_dict():
        raise UsageError(
            f"{manifest.folder}: its faces artifacts bake in {before}, not {options.to_dict()}; pass the same "
            f"{param('faces_fit')} and {param('faces_floor')}, or convert into a new folder"
        )
    return manifest


def add_faces(spec: ModelSpec, folder: str | Path, options: FacesOptions, weights: Sequence[str] | None = None) -> Manifest:
    """Write a faces artifact beside every raw model of ``folder`` (of ``weights``, if given); update its manifest."""
    import openvino as ov

    from ..extras import require

    onnx = require("onnx", "building faces artifacts")
    manifest = check_same_faces(folder, options)
    manifest.check()
    sources = [a for a in manifest.models() if weights is None or a.weights in weights]
    wrapper = wrapper_model(spec, options)
    made: list[Artifact] = []
    # The wrapper's file lives in the folder being written (a full disk there is the one-line error it is), and goes.
    with no_space_left(manifest.folder), tempfile.TemporaryDirectory(prefix=".sshconv-faces-", dir=manifest.folder) as tmp:
        wrapper_file = Path(tmp) / "wrapper.onnx"
        onnx.save(wrapper, str(wrapper_file))
        for a in sources:
            src = manifest.file(a)
            out = faces_path(manifest.folder, a)
            if a.kind == "onnx":
                try:
                    model = splice_onnx(onnx.load(str(src)), wrapper)
                except Exception as exc:  # noqa: BLE001 - protobuf's parse errors have no common type
                    raise ModelFileError(f"{src}: cannot read it as ONNX ({first_line(exc)}); convert again") from None
                for key, value in faces_facts(spec, options).items():
                    model.metadata_props.add(key=f"sshconv.{key}", value=value)
                with no_space_left(out.parent), atomic_path(out) as staged:
                    onnx.save(model, str(staged))
                made.append(
                    Artifact.of_file(manifest.folder, out, "faces-onnx", a.route, a.weights, ("batch", "height", "width", 3))
                )
            else:
                model = faces_ir(ov.Core().read_model(str(src)), wrapper_file, spec, options)
                save_ir(model, out, "FP32")  # the raw weights as they are: the wrapper adds no weights worth compressing
                made.append(Artifact.of_file(manifest.folder, out, "faces-ir-xml", a.route, a.weights, (-1, -1, -1, 3)))
                made.append(Artifact.of_file(manifest.folder, out.with_suffix(".bin"), "faces-ir-bin", a.route, a.weights))
    kept = [a for a in manifest.artifacts if not any(m.path == a.path for m in made)]
    manifest.artifacts = kept + made
    wraps = {**manifest.faces.get("from", {}), **{m.label: faces_source(m) for m in made if m.is_faces_model}}
    manifest.faces = {**options.to_dict(), "from": wraps}
    manifest.write()
    return manifest


def faces_source(artifact: Artifact) -> str:
    """The raw model's label a faces artifact wraps."""
    return artifact.label.removeprefix("faces/")
