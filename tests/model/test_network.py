"""The rebuilt SSH graph: names, parameter count, output shapes, GFLOPs."""

from __future__ import annotations

import json

import pytest

from sshconv.model import load_model_spec
from sshconv.model.network import (
    CARD_GFLOPS,
    CARD_PARAMS,
    build_symbol,
    count_gflops,
    count_parameters,
    output_names,
    output_shapes,
    parameter_shapes,
)
from sshconv.model.spec import default_outputs

pytestmark = pytest.mark.quick

mx = pytest.importorskip("mxnet")


@pytest.fixture(scope="module")
def symbol():
    return build_symbol()


def test_parameter_count_is_the_cards(symbol):
    assert count_parameters(symbol) == CARD_PARAMS == 19_768_420


def test_outputs_order_and_shapes(symbol):
    got = output_shapes(symbol, (1, 3, 640, 640))
    assert got == [(o.name, o.shape) for o in load_model_spec().outputs]
    assert [n for n, _ in got] == output_names()


def test_gflops_within_one_percent_of_card(symbol):
    assert abs(count_gflops(symbol) - CARD_GFLOPS) / CARD_GFLOPS < 0.01


@pytest.mark.parametrize("hw", [(320, 480), (96, 128), (1024, 768)])
def test_other_input_sizes(symbol, hw):
    got = output_shapes(symbol, (1, 3, *hw))
    assert got == [(o.name, o.shape) for o in default_outputs(*hw)]


def test_upstream_layer_and_parameter_names(symbol):
    shapes = parameter_shapes(symbol)
    for name, shape in {
        "conv1_1_weight": (64, 3, 3, 3),
        "conv5_3_bias": (512,),
        "ssh_m1_red_conv_weight": (128, 512, 1, 1),
        "ssh_m2_red_upsampling_weight": (128, 1, 4, 4),
        "ssh_m1_conv_weight": (128, 128, 3, 3),
        "ssh_m1_det_conv1_weight": (128, 128, 3, 3),
        "ssh_m1_det_context_conv3_2_weight": (64, 64, 3, 3),
        "ssh_m3_det_context_conv2_weight": (128, 128, 3, 3),
        "rpn_cls_score_stride8_weight": (4, 256, 1, 1),
        "rpn_bbox_pred_stride32_weight": (8, 512, 1, 1),
    }.items():
        assert shapes[name] == shape, name
    assert "ssh_m2_red_upsampling_bias" not in shapes
    ops = {n["name"]: n["op"] for n in json.loads(symbol.tojson())["nodes"]}
    assert ops["rpn_cls_prob_stride16"] == "SoftmaxActivation"
    assert ops["ssh_m2_red_upsampling"] == "Deconvolution"
    assert ops["ssh_m2_det_concat_relu"] == "Activation"
