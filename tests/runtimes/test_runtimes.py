"""Runners: the raw-BGR contract, card output names, pinned precision, one-line errors for bad models."""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.errors import CheckpointError, ModelFileError
from sshconv.model import InputSpec, load_model_spec, parse_model_spec, plain_name
from sshconv.model.network import output_names
from sshconv.runtimes import MXNetRunner, OpenVINORunner, check_raw_input, reference_preprocess

from ..conftest import tiny_ir

pytestmark = pytest.mark.quick


def test_plain_names():
    assert plain_name("rpn_bbox_pred_stride8:0") == "rpn_bbox_pred_stride8"
    assert plain_name("conv3_1_output") == "conv3_1"
    assert plain_name("relu1_1") == "relu1_1"


def test_reference_preprocess_reverses_then_subtracts_the_rgb_mean():
    raw = np.zeros((1, 3, 2, 2), np.float32)
    raw[0, 0], raw[0, 1], raw[0, 2] = 10.0, 20.0, 30.0  # B, G, R
    out = reference_preprocess(raw, InputSpec(mean_values=(1.0, 2.0, 3.0), reverse_input_channels=True))
    np.testing.assert_array_equal(out[0, :, 0, 0], [30 - 1, 20 - 2, 10 - 3])
    out = reference_preprocess(raw, InputSpec(mean_values=(1.0, 2.0, 3.0), reverse_input_channels=False))
    np.testing.assert_array_equal(out[0, :, 0, 0], [10 - 1, 20 - 2, 30 - 3])
    assert out.dtype == np.float32 and out.flags.c_contiguous


def test_wrong_input_shape_is_a_model_file_error():
    with pytest.raises(ModelFileError, match=r"input has shape \(1, 3, 32, 32\), the model takes \(1, 3, 640, 640\)"):
        check_raw_input(np.zeros((1, 3, 32, 32), np.float32), (1, 3, 640, 640))


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "missing.xml", "no such file"),
        (lambda d: d, "is a folder"),
        (lambda d: (d / "m.txt").write_text("x") and d / "m.txt", "expected an IR .xml or an .onnx file"),
        (lambda d: (d / "m.xml").write_bytes(b"\x00\x01binary") and d / "m.xml", "not an XML file"),
        (lambda d: (d / "m.xml").write_text("<net></net>") and d / "m.xml", "its weights m.bin are missing"),
    ],
)
def test_bad_model_files_are_one_line_errors(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(ModelFileError, match=fragment):
        with OpenVINORunner(path):
            pass


def _sparse(path, size: int, head: bytes = b""):
    with open(path, "wb") as f:  # a hole: no disk used, the size all the same
        f.write(head)
        f.truncate(size)
    return path


@pytest.mark.parametrize("case", ["pipe", "huge xml", "huge bin", "huge onnx", "bin too short", "entity expansion"])
def test_model_files_are_judged_by_kind_and_size_before_they_are_read(tmp_path, case):
    """A pipe is never opened, a file of absurd size never read (it would take memory in proportion); what OpenVINO
    refuses is said by its reason, not by where in OpenVINO's sources it failed."""
    import os
    import time

    xml = tiny_ir(tmp_path / "ok", names=output_names())
    said = {"pipe": "is a named pipe", "huge xml": "more than the 64 MiB", "huge bin": "more than the 1,024 MiB",
            "huge onnx": "more than the 1,024 MiB", "bin too short": "Incorrect weights in bin file",
            "entity expansion": "has 0 inputs|Unable to read the model"}[case]  # fmt: skip
    if case == "pipe":
        os.mkfifo(tmp_path / "p.xml")
        xml = tmp_path / "p.xml"
    elif case == "huge xml":
        _sparse(xml, (64 << 20) + 1, b"<?xml")
    elif case == "huge bin":
        _sparse(xml.with_suffix(".bin"), (1 << 30) + 1)
    elif case == "huge onnx":
        xml = _sparse(tmp_path / "m.onnx", (1 << 30) + 1)
    elif case == "entity expansion":  # a billion laughs in the .xml: never expanded (OpenVINO 2023.3 refuses the DTD)
        laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        xml.write_text(f'<?xml version="1.0"?><!DOCTYPE n [<!ENTITY l0 "lol">{laughs}]><net name="&l9;" version="11">'
                       "<layers></layers><edges></edges></net>")  # fmt: skip
    else:
        weights = xml.with_suffix(".bin")
        weights.write_bytes(weights.read_bytes()[:8])
    t0 = time.perf_counter()
    with pytest.raises(ModelFileError, match=said) as err:
        with OpenVINORunner(xml):
            pass
    assert time.perf_counter() - t0 < 5 and "Exception from" not in str(err.value) and "\n" not in str(err.value)


def test_wrong_input_shape_and_missing_outputs_are_rejected(tmp_path):
    small = tiny_ir(tmp_path / "small", shape=(1, 3, 320, 320), names=output_names())
    with pytest.raises(
        ModelFileError, match=r"output rpn_cls_prob_reshape_stride32 has shape \(1, 3, 640, 640\), expected \(1, 4, 20, 20\)"
    ):
        with OpenVINORunner(tiny_ir(tmp_path / "shapes", names=output_names(), card_shapes=False)):
            pass
    # A model that cannot take another shape (this one adds constants of its own size) says so in one line.
    with pytest.raises(ModelFileError, match=r"cannot reshape its input \[1,3,320,320\] to \(1, 3, 640, 640\) .*only its own"):
        with OpenVINORunner(small, input_shape=(1, 3, 640, 640)):
            pass
    other = tiny_ir(tmp_path / "other")
    with pytest.raises(ModelFileError, match="missing output.*rpn_cls_prob_reshape_stride32.*found something_else"):
        with OpenVINORunner(other):
            pass


def test_runner_maps_mo_names_and_reports_the_execution_used(tmp_path):
    names = output_names()
    xml = tiny_ir(tmp_path / "ok", shape=(1, 3, 64, 64), names=names[::-1])  # stored in reverse order
    x = np.arange(3 * 64 * 64, dtype=np.float32).reshape(1, 3, 64, 64)
    with OpenVINORunner(xml, execution="f32") as runner:
        out = runner.infer(x)
        assert runner.execution_used == "f32"
    assert list(out) == names, "card names, card order, no ':0'"
    for i, name in enumerate(names[::-1]):
        assert (out[name] == i).all(), name
    with pytest.raises(ModelFileError, match="execution 'fp64'"):
        OpenVINORunner(xml, execution="fp64")


def _spec_with_outputs(names: list[str]):
    """The packaged model.yml, but listing only ``names`` as outputs (shapes for 640x640)."""
    import yaml

    from sshconv.model import PACKAGED_MODEL_YML

    doc = yaml.safe_load(PACKAGED_MODEL_YML.read_text())
    doc["outputs"] = [o for o in doc["outputs"] if o["name"] in names]
    return parse_model_spec(doc, PACKAGED_MODEL_YML)


def test_runner_takes_names_order_and_shapes_from_the_spec(tmp_path):
    """A model.yml listing other outputs is honoured: the runner returns those, in that order, checked by shape."""
    names = output_names()
    xml = tiny_ir(tmp_path / "ok", shape=(1, 3, 64, 64), names=names)
    wanted = [names[4], names[1]]  # stride-8 probabilities, stride-32 boxes: model.yml's order, not the IR's
    spec = _spec_with_outputs(wanted)
    assert spec.output_names == sorted(wanted, key=names.index)
    with OpenVINORunner(xml, spec) as runner:
        out = runner.infer(np.zeros((1, 3, 64, 64), np.float32))
    assert list(out) == spec.output_names
    assert out[names[4]].shape == (1, 4, 8, 8) and out[names[1]].shape == (1, 8, 2, 2)
    # The default spec is the packaged model.yml: all six.
    with OpenVINORunner(xml) as runner:
        assert list(runner.infer(np.zeros((1, 3, 64, 64), np.float32))) == load_model_spec().output_names


def test_stride_8_shape_follows_the_network_not_h_over_8(tmp_path):
    """At 648 pixels the stride-8 map is 2 * (648 // 16) = 80 rows (the network crops to the upsampled stride-16 map), not 81."""
    spec = load_model_spec()
    shapes = {o.name: o.shape for o in spec.outputs_for(648, 640)}
    assert shapes["rpn_cls_prob_reshape_stride8"] == (1, 4, 80, 80)
    assert shapes["rpn_bbox_pred_stride16"] == (1, 8, 40, 40) and shapes["rpn_bbox_pred_stride32"] == (1, 8, 20, 20)
    assert {o.name: o.shape for o in spec.outputs_for(672, 704)}["rpn_bbox_pred_stride8"] == (1, 8, 84, 88)


def test_mxnet_runner_rejects_a_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        with MXNetRunner(tmp_path / "nowhere"):
            pass


@pytest.mark.slow
def test_mxnet_internals_match_openvino_tensors(synth_dir, converted_dir):
    """Conv and ReLU internals agree (MXNet's fused Conv+ReLU would return unrectified ReLU outputs)."""
    xml = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    x = np.random.default_rng(1).integers(0, 256, (1, 3, 640, 640)).astype(np.float32)
    names = ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    with MXNetRunner(synth_dir) as mx_runner:
        ref = mx_runner.infer_internals(x, names)
        assert mx_runner.internal_names()[:2] == ["conv1_1", "relu1_1"]
    with OpenVINORunner(xml, extra_outputs=names) as ov_runner:
        got = ov_runner.infer(x)
    assert (ref["relu1_1"] >= 0).all()
    for n in names:
        err = np.abs(got[n] - ref[n]).max() / np.abs(ref[n]).max()
        assert err < 1e-5, f"{n}: {err}"
