"""Negative controls: copies of a converted model with one known defect each, which verify must fail."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..model.spec import InputSpec
from ..runtimes.openvino import opset

#: The weight-scaling negative control: this convolution's weights times CONTROL_SCALE.
CONTROL_LAYER = "conv3_1"


CONTROL_SCALE = 1.01


def control_models(model, input_spec: InputSpec | None = None, weights: bool = True) -> list[tuple[str, str, Any]]:
    """``(name, description, ov.Model)`` of each negative control: copies of ``model`` with one defect.

    Built by editing a copy of the *converted model itself* in memory, so that each
    control differs from what was checked in exactly one known way (same route, same
    weights, same everything else) and needs neither the checkpoint nor Model Optimizer:

    * ``no_mean``: the input gets the mean added back in front of the model, which
      cancels the baked-in subtraction exactly (integer pixels): a conversion without
      ``--mean_values``;
    * ``no_reverse``: the channels are reversed in front of the model, which cancels the
      baked-in reversal: a conversion without ``--reverse_input_channels``;
    * ``scaled_weight``: the weights of one convolution (``CONTROL_LAYER``) times
      ``CONTROL_SCALE``: a subtly wrong weight tensor (left out with ``weights=False``: a
      quantized model, judged by its faces, cannot be expected to see a 1 % weight change).

    Of a quantized model, ``no_reverse`` is what quantizing a conversion that forgot
    ``--reverse_input_channels`` gives (up to the calibration's ranges).
    """
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    inp = input_spec or InputSpec()
    # The mean in the order of the raw input's channels (the model reverses them before subtracting).
    mean_in = list(reversed(inp.mean_values)) if inp.reverse_input_channels else list(inp.mean_values)
    mean_bgr = [-m for m in mean_in]

    def with_pre(step: str):
        m = model.clone()
        ppp = PrePostProcessor(m)
        ppp.input().tensor().set_layout(ov.Layout("NCHW"))
        ppp.input().model().set_layout(ov.Layout("NCHW"))
        if step == "mean":
            ppp.input().preprocess().mean(mean_bgr)
        else:
            ppp.input().preprocess().reverse_channels()
        return ppp.build()

    controls = [
        ("no_mean", "the converted model without its mean subtraction", with_pre("mean")),
        ("no_reverse", "the converted model without its BGR->RGB channel reversal", with_pre("reverse")),
    ]
    if weights:
        scaled, layer = scale_conv_weights(model, CONTROL_LAYER, CONTROL_SCALE)
        controls.append(("scaled_weight", f"the converted model with {layer}'s weights scaled by {CONTROL_SCALE:g}", scaled))
    return controls


def scale_conv_weights(model, layer: str, factor: float):
    """A copy of ``model`` with the weights of convolution ``layer`` times ``factor``; and the layer's name.

    Falls back to the fifth convolution (``conv3_1`` in VGG order) when no convolution is
    named ``layer`` (a route that renamed layers).
    """
    ops = opset()

    m = model.clone()
    convs = [op for op in m.get_ordered_ops() if op.get_type_name() == "Convolution"]
    if not convs:
        raise ModelFileError("the model has no Convolution to build the scaled-weight control from")
    named = [op for op in convs if _layer_name(op) == layer]
    conv = named[0] if named else convs[min(4, len(convs) - 1)]
    target = conv.input(1)
    src = target.get_source_output().get_node()
    while src.get_type_name() in ("Convert", "Reshape") and src.get_type_name() != "Constant":
        target = src.input(0)
        src = target.get_source_output().get_node()
    if src.get_type_name() != "Constant":
        raise ModelFileError(f"{_layer_name(conv)}: its weights are not a constant; cannot build the scaled-weight control")
    data = src.get_data()
    target.replace_source_output(ops.constant((data.astype(np.float32) * factor).astype(data.dtype)).output(0))
    return m, _layer_name(conv)


def _layer_name(op) -> str:
    return op.get_friendly_name().split("/")[0]
