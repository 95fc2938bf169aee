"""sshconv convert: both routes on the full-size synthetic checkpoint, the manifest, the
raw-BGR input contract (checked numerically against MXNet), determinism, interruption and
every bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sshconv.conversion import ARTIFACT_NAME, MANIFEST_NAME, parse_input_shape
from sshconv.conversion.manifest import VARYING_FIELDS
from sshconv.conversion.mo import mo_arguments
from sshconv.errors import UsageError
from sshconv.fsutil import sha256_file
from sshconv.model import load_model_spec
from sshconv.model.checkpoint import PARAMS_FILE, SYMBOL_FILE

from ..conftest import assert_one_line_error, run_cli

IRS = [(route, prec) for route in ("mo", "onnx") for prec in ("FP32", "FP16")]
EXPECTED_FILES = sorted(
    [f"ir/{r}/{p}/{ARTIFACT_NAME}.{ext}" for r, p in IRS for ext in ("xml", "bin")]
    + [f"onnx/{ARTIFACT_NAME}.onnx", MANIFEST_NAME]
)


def _files(folder: Path) -> list[str]:
    """Every file under ``folder`` (temporary names included: they start with a dot)."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _manifest(folder: Path) -> dict:
    return json.loads((folder / MANIFEST_NAME).read_text())


# ----------------------------------------------------------------------------- options (fast)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1,3,640", "3 dimensions, expected 4"),
        ("1,3,a,640", "not four integers"),
        ("2,3,640,640", "N,C must be 1,3"),
        ("1,1,640,640", "N,C must be 1,3"),
        ("1,3,650,640", "H=650 is not a positive multiple of 32"),
        ("1,3,640,0", "W=0 is not a positive multiple of 32"),
        ("1,3,-32,640", "H=-32 is not a positive multiple of 32"),
    ],
)
@pytest.mark.quick
def test_bad_input_shape_is_one_line_exit_2(tmp_path, text, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_input_shape(text, (1, 3, 640, 640))
    # Checked before anything is read or written.
    res = run_cli("convert", "--input-dir", tmp_path / "nowhere", "--output-dir", tmp_path / "out", "--input-shape", text)
    assert_one_line_error(res, 2, "--input-shape", fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.quick
def test_input_shape_forms():
    assert parse_input_shape(None, (1, 3, 640, 640)) == (1, 3, 640, 640)
    assert parse_input_shape("1, 3, 320, 480", (1, 3, 640, 640)) == (1, 3, 320, 480)
    assert parse_input_shape("[1,3,32,64]", (1, 3, 640, 640)) == (1, 3, 32, 64)
    assert parse_input_shape((1, 3, 96, 128), (1, 3, 640, 640)) == (1, 3, 96, 128)


@pytest.mark.quick
def test_bad_route_or_precision(tmp_path):
    assert_one_line_error(run_cli("convert", "--output-dir", tmp_path, "--via", "tf"), 2, "--via", "invalid choice")
    assert_one_line_error(run_cli("convert", "--output-dir", tmp_path, "--precision", "INT8"), 2, "--precision")
    from sshconv import convert

    with pytest.raises(UsageError, match="unknown route"):
        convert(load_model_spec(), tmp_path, tmp_path / "o", via=("tf",))
    with pytest.raises(UsageError, match="unknown weight precision"):
        convert(load_model_spec(), tmp_path, tmp_path / "o", precisions=("INT8",))


@pytest.mark.quick
def test_mo_arguments_come_from_model_yml(tmp_path):
    kwargs = mo_arguments(load_model_spec(), tmp_path, (1, 3, 320, 480))
    assert kwargs == {
        "input_shape": "[1,3,320,480]",
        "input": "data",
        "input_model": f"{tmp_path}/{PARAMS_FILE}",
        "mean_values": "data[123.68,116.779,103.939]",
        "reverse_input_channels": True,
    }


@pytest.mark.quick
def test_no_input_dir_and_no_download_is_exit_2(tmp_path, monkeypatch):
    monkeypatch.setenv("SSHCONV_HOME", str(tmp_path / "home"))
    res = run_cli("convert", "--output-dir", tmp_path / "out")
    assert_one_line_error(res, 2, "--input-dir not given", str(tmp_path / "home"), "sshconv download")


# ----------------------------------------------------------------------------- bad checkpoints


def _linked_checkpoint(src: Path, dst: Path) -> Path:
    """A checkpoint folder whose files are symlinks to ``src``'s (replace one to break it)."""
    dst.mkdir(parents=True)
    for name in (SYMBOL_FILE, PARAMS_FILE):
        (dst / name).symlink_to(src / name)
    return dst


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def _break(case: str, folder: Path, src: Path) -> list[str]:
    """Break ``folder`` as ``case`` says; return extra CLI arguments."""
    params, symbol = folder / PARAMS_FILE, folder / SYMBOL_FILE
    if case == "no folder":
        shutil.rmtree(folder)
    elif case == "missing params":
        params.unlink()
    elif case == "missing symbol":
        symbol.unlink()
    elif case == "empty params":
        _replace(params, b"")
    elif case == "truncated params":
        _replace(params, (src / PARAMS_FILE).read_bytes()[: 1 << 20])
    elif case == "broken symbol json":
        _replace(symbol, (src / SYMBOL_FILE).read_bytes()[:-100])
    elif case == "symbol lacks an output":
        doc = json.loads((src / SYMBOL_FILE).read_text())
        doc["heads"] = doc["heads"][:-1]
        _replace(symbol, json.dumps(doc).encode())
    elif case == "json not a symbol":
        _replace(symbol, b'{"hello": "world"}')
    elif case == "different network":
        import mxnet as mx

        other = mx.sym.Convolution(mx.sym.Variable("data"), kernel=(3, 3), num_filter=8, name="conv1_1")
        _replace(symbol, other.tojson().encode())
    elif case == "params do not fit":
        import mxnet as mx

        saved = mx.nd.load(str(src / PARAMS_FILE))
        saved["arg:conv1_1_weight"] = mx.nd.zeros((32, 3, 3, 3))
        params.unlink()
        mx.nd.save(str(params), saved)
    elif case == "model.yml outputs differ":
        doc = yaml.safe_load(load_model_spec().path.read_text())
        doc["outputs"][0], doc["outputs"][1] = doc["outputs"][1], doc["outputs"][0]
        (folder / "model.yml").write_text(yaml.safe_dump(doc))
        return ["--model", str(folder / "model.yml")]
    elif case == "unreadable params":
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their permissions")
        _replace(params, (src / PARAMS_FILE).read_bytes()[:100])
        params.chmod(0)
    return []


CHECKPOINT_CASES = {
    "no folder": "does not exist",
    "missing params": f"{PARAMS_FILE}: missing",
    "missing symbol": f"{SYMBOL_FILE}: missing",
    "empty params": "is empty (0 bytes)",
    "truncated params": "truncated or damaged",
    "broken symbol json": "not a JSON file",
    "json not a symbol": "not an MXNet symbol",
    "different network": "model.yml expects",
    "params do not fit": "has shape (32, 3, 3, 3), the symbol needs (64, 3, 3, 3)",
    "symbol lacks an output": "model.yml expects",
    "model.yml outputs differ": "model.yml expects",
    "unreadable params": "cannot read",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CHECKPOINT_CASES))
def test_bad_checkpoint_is_one_line_exit_2_and_writes_nothing(synth_dir, tmp_path, case):
    folder = _linked_checkpoint(synth_dir, tmp_path / "ckpt")
    extra = _break(case, folder, synth_dir)
    out = tmp_path / "out"
    res = run_cli("convert", "--input-dir", folder, "--output-dir", out, "--via", "mo", *extra)
    assert_one_line_error(res, 2, CHECKPOINT_CASES[case])
    # Every error names the file (or folder) that is wrong.
    named = {"no folder": str(folder), "different network": SYMBOL_FILE, "model.yml outputs differ": SYMBOL_FILE}
    name = named.get(case) or (PARAMS_FILE if "params" in case else SYMBOL_FILE if "symbol" in case else None)
    assert name and name in res.err, (name, res.err)
    assert not out.exists()


# ----------------------------------------------------------------------------- both routes, full size


@pytest.mark.quick
@pytest.mark.slow
def test_layout_and_manifest_match_the_files(converted_dir, synth_dir):
    assert _files(converted_dir) == EXPECTED_FILES  # no temporary names left behind
    m = _manifest(converted_dir)
    listed = {a["path"]: a for a in m["artifacts"]}
    assert sorted(listed) == [f for f in EXPECTED_FILES if f != MANIFEST_NAME]
    for path, a in listed.items():
        f = converted_dir / path
        assert a["size"] == f.stat().st_size and a["sha256"] == sha256_file(f), path
        route, prec = ("onnx", "FP32") if path.startswith("onnx/") else path.split("/")[1:3]
        assert (a["route"], a["weights"]) == (route, prec)
    assert m["source"]["files"] == {
        name: {"sha256": sha256_file(synth_dir / name), "size": (synth_dir / name).stat().st_size}
        for name in (SYMBOL_FILE, PARAMS_FILE)
    }
    assert m["input"] | {"preprocessing": None, "shapes": None} == {
        "name": "data", "shape": [1, 3, 640, 640], "layout": "NCHW", "channel_order": "BGR", "value_range": [0, 255],
        "element_type": "f32", "mean_values": [123.68, 116.779, 103.939], "mean_values_order": "RGB",
        "reverse_input_channels": True, "preprocessing": None, "shapes": None,
    }  # fmt: skip
    assert "any batch" in m["input"]["shapes"]
    assert m["outputs"] == [{"name": o.name, "shape": list(o.shape)} for o in load_model_spec().outputs]
    for tool in ("mxnet", "onnx", "openvino", "openvino-dev", "numpy", "sshconv", "python"):
        assert m["tools"][tool][0].isdigit(), tool
    assert {"load_checkpoint", "mo", "onnx_export", "onnx_to_ir", "onnx", "total"} <= set(m["timings"])
    # FP16 halves the weights.
    for route in ("mo", "onnx"):
        fp32, fp16 = (listed[f"ir/{route}/{p}/{ARTIFACT_NAME}.bin"]["size"] for p in ("FP32", "FP16"))
        assert 0.45 < fp16 / fp32 < 0.55


@pytest.mark.quick
@pytest.mark.slow
@pytest.mark.parametrize("artifact", [f"ir/{r}/{p}/{ARTIFACT_NAME}.xml" for r, p in IRS] + [f"onnx/{ARTIFACT_NAME}.onnx"])
def test_artifact_read_back_by_openvino(converted_dir, artifact):
    import openvino as ov

    model = ov.Core().read_model(str(converted_dir / artifact))
    [inp] = model.inputs
    if artifact.endswith(".onnx"):  # batch, height and width are dynamic axes: any frame, any batch
        assert [str(d) for d in inp.get_partial_shape()] == ["?", "3", "?", "?"]
        model.reshape({inp: [1, 3, 640, 640]})
        [inp] = model.inputs
    assert "data" in inp.get_names() and list(inp.shape) == [1, 3, 640, 640] and inp.get_element_type() == ov.Type.f32
    card = [(o.name, list(o.shape)) for o in load_model_spec().outputs]
    assert [(o.get_any_name(), list(o.shape)) for o in model.outputs] == card
    for name, _ in card:
        model.output(name)  # found by its plain card name
    weight_types = {
        op.get_element_type()
        for op in model.get_ordered_ops()
        if op.get_type_name() == "Constant" and len(op.get_output_shape(0)) == 4
    }
    if "FP16" in artifact:
        assert weight_types == {ov.Type.f16}
    else:
        assert weight_types == {ov.Type.f32}
    if artifact.endswith(".xml"):
        assert str(model.get_parameters()[0].get_layout()) == "[N,C,H,W]"


@pytest.fixture(scope="module")
def mxnet_reference(synth_dir):
    """One raw BGR photo with faces and MXNet's six outputs for it, fed RGB minus the mean by hand.

    A photo, not noise: on noise the detector is sure there is no face anywhere, and a
    probability of 1.0 hardly moves whatever the pixels' order.
    """
    import mxnet as mx

    from sshconv.model.checkpoint import load_checkpoint
    from sshconv.verification import make_samples

    spec = load_model_spec(synth_dir / "model.yml")
    ckpt = load_checkpoint(synth_dir)
    bgr = make_samples((1, 3, 640, 640), samples=0, photos=1, seed=4, patterns=())[0].tensor
    rgb_minus_mean = bgr[:, ::-1, :, :] - np.array(spec.input.mean_values, np.float32).reshape(1, 3, 1, 1)
    args = {"data": mx.nd.array(rgb_minus_mean), **ckpt.arg_params}
    exe = ckpt.symbol.bind(mx.cpu(), args, aux_states=ckpt.aux_params, grad_req="null")
    outs = [o.asnumpy() for o in exe.forward(is_train=False)]
    return spec, bgr, dict(zip([o.name for o in spec.outputs], outs))


@pytest.mark.slow
@pytest.mark.parametrize(
    "artifact, precision",
    [(f"ir/{r}/{p}/{ARTIFACT_NAME}.xml", p) for r, p in IRS] + [(f"onnx/{ARTIFACT_NAME}.onnx", "FP32")],
)
@pytest.mark.quick
def test_raw_bgr_input_matches_mxnet_on_rgb_minus_mean(converted_dir, mxnet_reference, artifact, precision):
    import openvino as ov

    spec, bgr, reference = mxnet_reference
    compiled = ov.Core().compile_model(str(converted_dir / artifact), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    got = compiled({"data": bgr})
    for name, ref in reference.items():
        tol = spec.tolerance(precision, name)
        out = got[compiled.output(name)]
        assert out.shape == ref.shape
        excess = np.abs(out - ref) - (tol.atol + tol.rtol * np.abs(ref))
        assert excess.max() <= 0, f"{artifact} {name}: worst element exceeds tolerance by {excess.max():.3g}"
    if artifact != f"ir/mo/FP32/{ARTIFACT_NAME}.xml":
        return
    # The contract is not vacuous: the same pixels in RGB order give a different answer.
    wrong = compiled({"data": np.ascontiguousarray(bgr[:, ::-1])})
    name = spec.outputs[0].name
    assert np.abs(wrong[compiled.output(name)] - reference[name]).max() > 10 * spec.tolerance(precision, name).atol


@pytest.mark.slow
def test_converting_twice_gives_the_same_artifacts(converted_dir, synth_dir, tmp_path):
    from sshconv import convert

    first = _manifest(converted_dir)
    second = convert(load_model_spec(synth_dir / "model.yml"), synth_dir, tmp_path / "again").to_dict()
    assert second == _manifest(tmp_path / "again"), "what convert returns is what it wrote"
    assert [(a["path"], a["sha256"]) for a in second["artifacts"]] == [(a["path"], a["sha256"]) for a in first["artifacts"]]
    # Whatever else differs is named in the manifest, with the reason.
    differing = {k for k in first if first[k] != second[k]}
    differing |= {f"source.{k}" for k in first["source"] if first["source"][k] != second["source"][k]} - {"source"}
    differing.discard("source")
    assert differing <= set(second["reproducibility"]["varying_fields"]) == set(VARYING_FIELDS)
    assert "timings" in differing and "output_dir" in differing


@pytest.mark.slow
def test_other_input_shape_mo_only_json(synth_dir, tmp_path):
    import openvino as ov

    out = tmp_path / "small"
    res = run_cli(
        "convert",
        "--input-dir",
        synth_dir,
        "--output-dir",
        out,
        "--via",
        "mo",
        "--precision",
        "FP32",
        "--input-shape",
        "1,3,320,480",
        "--json",
    )
    assert res.code == 0, res.err
    m = json.loads(res.out)
    assert _files(out) == sorted([f"ir/mo/FP32/{ARTIFACT_NAME}.xml", f"ir/mo/FP32/{ARTIFACT_NAME}.bin", MANIFEST_NAME])
    assert m["input"]["shape"] == [1, 3, 320, 480] and m["routes"] == ["mo"] and m["weights"] == ["FP32"]
    expected = [
        (f"rpn_{kind}_stride{s}", [1, ch, 320 // s, 480 // s])
        for s in (32, 16, 8)
        for kind, ch in (("cls_prob_reshape", 4), ("bbox_pred", 8))
    ]
    assert [(o["name"], o["shape"]) for o in m["outputs"]] == expected
    model = ov.Core().read_model(str(out / "ir/mo/FP32" / f"{ARTIFACT_NAME}.xml"))
    assert list(model.inputs[0].shape) == [1, 3, 320, 480]
    assert [(o.get_any_name(), list(o.shape)) for o in model.outputs] == expected


@pytest.mark.slow
def test_interrupted_convert_leaves_nothing_half_written(converted_dir, synth_dir, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(converted_dir / MANIFEST_NAME, out / MANIFEST_NAME)  # an earlier run's manifest
    cmd = [sys.executable, "-m", "sshconv", "convert", "--input-dir", str(synth_dir), "--output-dir", str(out), "--via", "onnx"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120

    def exporting() -> bool:  # the exporter's staging folder is there
        return (out / "onnx").is_dir() and any(p.name.startswith(".") for p in (out / "onnx").iterdir())

    while not exporting():
        assert proc.poll() is None and time.monotonic() < deadline, "convert finished or hung before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert len(err.strip().splitlines()) == 1 and "terminated" in err and "Traceback" not in err
    left = _files(out)
    assert not [f for f in left if Path(f).name.startswith(".")], left  # no temporary files
    assert MANIFEST_NAME not in left  # the stale manifest is gone: the folder reads as incomplete
    for f in left:  # whatever reached a final name is complete
        assert sha256_file(out / f) == sha256_file(converted_dir / f), f


@pytest.mark.slow
def test_model_optimizer_rejecting_model_yml_args_is_exit_2(synth_dir, tmp_path):
    doc = yaml.safe_load(load_model_spec().path.read_text())
    doc["model_optimizer_args"].append("--layout=data(nchwxyz)")  # allowed, but a value Model Optimizer refuses
    (tmp_path / "model.yml").write_text(yaml.safe_dump(doc))
    res = run_cli(
        "convert", "--model", tmp_path / "model.yml", "--input-dir", synth_dir, "--output-dir", tmp_path / "out", "--via", "mo"
    )
    assert_one_line_error(res, 2, "model.yml", "Model Optimizer rejected", "nchwxyz")
    assert _files(tmp_path / "out") == []


@pytest.mark.slow
def test_input_model_must_stay_inside_the_checkpoint_folder(synth_dir, tmp_path):
    """model.yml's $dl_dir/NAME is resolved with links followed: a params file that links outside is refused."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(synth_dir / PARAMS_FILE, outside / PARAMS_FILE)
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    shutil.copy(synth_dir / "sshb-symbol.json", ckpt / "sshb-symbol.json")
    (ckpt / PARAMS_FILE).symlink_to(outside / PARAMS_FILE)
    res = run_cli("convert", "--input-dir", ckpt, "--output-dir", tmp_path / "out", "--via", "mo")
    assert_one_line_error(res, 2, "--input_model=", "leaves the checkpoint folder")
    assert _files(tmp_path / "out") == []
