"""Both routes end here: plain card names and order on the outputs, NCHW input, stable names, saved IR.

Determinism. Model Optimizer and OpenVINO name generated layers with a process-wide
counter (``Subtract_434``, ``conv1_1/Dims1492``) that differs from run to run; the
weights do not. Generated names are rewritten to stable ones (:func:`stable_layer_names`)
so that converting the same checkpoint twice gives byte-identical artifacts.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from ..errors import CheckpointError, OutputError, first_line
from ..fsutil import atomic_path
from ..model.spec import ModelSpec
from .manifest import INPUT_LAYOUT


def finish_ir_model(model, spec: ModelSpec, outputs, known_names: set[str]) -> None:
    """Edit ``model`` in place: plain card names on the outputs, card order, NCHW input, stable names.

    Model Optimizer names output tensors ``rpn_cls_prob_reshape_stride16:0`` and orders them
    differently from the card; each output tensor gets the plain name as well (the ``:0``
    name stays, for tools that know it) and the results are put in model.yml's order.
    """
    import openvino as ov

    order = [name for name, _ in outputs]
    results = {}
    for result in model.get_results():
        tensor = result.input_value(0).get_tensor()
        plain = {n.split(":")[0] for n in tensor.get_names()} & set(order)
        if len(plain) != 1:
            raise CheckpointError(
                f"converted model output {sorted(tensor.get_names())} is not one of model.yml's outputs {order}"
            )
        name = plain.pop()
        tensor.add_names({name})
        result.output(0).get_tensor().add_names({name})
        results[name] = result
    if set(results) != set(order):
        raise CheckpointError(f"converted model outputs {sorted(results)} do not match model.yml's {order}")
    # Re-order the results in place: ov.Model has no setter, so remove and add them back in order.
    for result in model.get_results():
        model.remove_result(result)
    model.add_results([results[n] for n in order])
    for name, shape in outputs:
        got = tuple(results[name].get_output_partial_shape(0).to_shape())
        if got != tuple(shape):
            raise CheckpointError(f"converted output {name} has shape {list(got)}, the checkpoint gives {list(shape)}")
    for param in model.get_parameters():
        if spec.input.name in param.output(0).get_tensor().get_names():
            param.set_layout(ov.Layout(INPUT_LAYOUT))
    stable_layer_names(model, known_names)


_COUNTER = re.compile(r"_?\d+$")


def stable_layer_names(model, known: set[str]) -> None:
    """Replace generated layer names (``Gather_1753``, ``conv1_1/Dims1492``) with stable ones.

    A name is split at ``/``; a part that is a name from the source graph is kept, any other
    part loses its trailing counter. Names that then collide get ``_2``, ``_3``... in graph
    order, which is fixed for a given graph.
    """
    used: dict[str, int] = {}
    for op in model.get_ordered_ops():
        old = op.get_friendly_name()
        parts = []
        for part in old.split("/"):
            if part in known or part.split(":")[0] in known:
                parts.append(part)
            else:
                parts.append(_COUNTER.sub("", part) or op.get_type_name())
        new = "/".join(parts)
        used[new] = used.get(new, 0) + 1
        if used[new] > 1:
            new = f"{new}_{used[new]}"
        if new != old:
            op.set_friendly_name(new)


def save_ir(model, xml: Path, weights: str) -> Path:
    """Write ``xml`` and the ``.bin`` beside it (FP16: weights compressed), each via a temporary name."""
    import openvino as ov

    bin_ = xml.with_suffix(".bin")
    # The .bin is renamed into place first, so a final .xml never points at a missing .bin.
    with atomic_path(xml) as tmp_xml, atomic_path(bin_) as tmp_bin:
        staged = tmp_xml.with_name(tmp_xml.name + ".xml")  # save_model puts the .bin beside the .xml
        try:
            try:
                ov.save_model(model, str(staged), compress_to_fp16=(weights == "FP16"))
            except RuntimeError as exc:  # OpenVINO's writer reports a full disk as a RuntimeError
                raise OutputError(
                    f"folder {xml.parent}: OpenVINO could not write the IR ({first_line(exc)}); "
                    "is the disk full? free some space there or pass another folder"
                ) from None
            _check_weights_written(staged, xml.parent)
            os.replace(staged, tmp_xml)
            os.replace(staged.with_suffix(".bin"), tmp_bin)
        finally:
            for leftover in (staged, staged.with_suffix(".bin")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
    return xml


def _check_weights_written(xml: Path, folder: Path) -> None:
    """The ``.bin`` holds every constant the ``.xml`` points into.

    OpenVINO's writer does not report a write that fell short (a full disk, a file-size
    limit): the ``.bin`` is then silently truncated. The ``.xml`` says where each constant
    lives (``offset`` + ``size``), so a short file is caught here, before it is renamed.
    """
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(xml).getroot()
    except ET.ParseError as exc:  # the writer stopped inside the .xml: as short a write as a cut-off .bin
        raise OutputError(
            f"folder {folder}: the IR's .xml was cut short ({exc}); is the disk full? free some space there or pass "
            "another folder"
        ) from None
    needed = 0
    for data in root.iter("data"):
        if data.get("offset") is not None and data.get("size") is not None:
            needed = max(needed, int(data.get("offset")) + int(data.get("size")))
    got = xml.with_suffix(".bin").stat().st_size if xml.with_suffix(".bin").exists() else 0
    if got < needed:
        raise OutputError(
            f"folder {folder}: the IR's weights were cut short ({got:,} of {needed:,} bytes written); "
            "is the disk full? free some space there or pass another folder"
        )
