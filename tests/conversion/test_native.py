"""The native route (``convert --via native``) and the NumPy reference (``verify --reference numpy``): README's quick
start from a checkpoint folder to a checked bundle with no MXNet installed (the runtime stack), every operation built
with MXNet's meaning, and the native IR equal to MXNet on the conversion stack."""

from __future__ import annotations

import importlib.util
import json
import shlex
import sys

import pytest

from ..conftest import ROOT, assert_one_line_error, golden_subset, run_cli, run_sshconv, without_modules

pytestmark = pytest.mark.slow


def _quick_start(page) -> str:
    """The runtime stack's quick start: the block of command lines that starts with the native conversion."""
    text = page.read_text()
    start = text.index("```bash\nsshconv convert --input-dir ./ssh --output-dir ./native")
    return text[start + len("```bash\n") : text.index("```", start + 3)]


@pytest.mark.neutral
def test_the_quick_start_without_mxnet_runs_as_written(checkpoint_dir, golden_shapes_file, tmp_path, monkeypatch):
    """README's five lines, from a checkpoint folder to a checked bundle, as written, where MXNet is not installed
    (and the conversion where onnx cannot be imported either)."""
    if importlib.util.find_spec("mxnet") is not None:
        pytest.skip("MXNet is installed here: this test proves the route where it is not (the runtime stack)")
    block = _quick_start(ROOT / "README.md")
    assert block == _quick_start(ROOT / "docs" / "getting-started.md"), "README and docs/getting-started.md differ"
    steps = [shlex.split(line, comments=True)[1:] for line in block.splitlines()]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ssh").symlink_to(checkpoint_dir)
    proc = run_sshconv(*steps[0], "--json", env=without_modules(tmp_path, "mxnet", "onnx"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["routes"] == ["native"]
    done = {argv[0] + (" --bundle" if "--bundle" in argv else ""): run_cli(*argv) for argv in steps[1:]}
    assert all(r.code == 0 for r in done.values()), {k: r.out[-2000:] + r.err for k, r in done.items() if r.code}
    # The reference was the float64 NumPy interpreter, chosen because MXNet is absent, and every negative control (a
    # wrong mean, no channel reversal, one layer's weights 1 % off) failed against it, for FP32 and FP16.
    assert "reference: numpy (chosen automatically: MXNet cannot be imported here)" in done["verify"].out
    assert done["verify"].out.count("caught (FAIL as expected)") == 6 and "NOT CAUGHT" not in done["verify"].out
    assert "verified: ir/native/FP16, ir/native/FP32, ir/native/INT8" in done["bundle"].out
    assert "model card: every figure matches" in done["verify --bundle"].out
    # MXNet's own outputs (its golden file from the conversion stack) at every shape of the sweep, FP32 tolerances.
    photos = golden_subset(golden_shapes_file, tmp_path / "photos.npz", kinds=("photo",))  # one at each shape
    res = run_cli("verify", "--ir", "native/ir/native/FP32/ssh-mxnet.xml", "--golden", photos, "--json")
    assert res.code == 0, res.out[-3000:]
    shapes = {tuple(o["input_shape"]) for c in json.loads(res.out)["checks"] for o in c["outputs"]}
    assert shapes == {(1, 3, 481, 777), (2, 3, 640, 640)}, shapes
    # A faces artifact that fits frames to 256x256: the NumPy reference runs on the fitted frames, and the artifact's
    # faces are the reference decoder's on them (its controls: tests/deploy/test_faces.py).
    assert run_cli("convert", "--input-dir", "ssh", "--output-dir", "faced", "--precision", "FP32", "--faces",
                   "--faces-fit", "256x256").code == 0  # fmt: skip
    res = run_cli("verify", "--input-dir", "ssh", "--artifacts", "faced", "--shapes", "1x320x320", "--samples", "0",
                  "--photos", "1")  # fmt: skip
    faces = [line for line in res.out.splitlines() if line.strip().startswith("faces/ir/native/FP32:")]
    assert res.code == 0 and len(faces) == 1 and "(fit 256x256" in faces[0] and faces[0].endswith("PASS"), res.out[-3000:]
    assert "mxnet" not in sys.modules


@pytest.mark.quick
def test_the_reference_choice_is_checked_before_anything_runs(tmp_path):
    res = run_cli("verify", "--golden", tmp_path / "g.npz", "--ir", tmp_path / "m.xml", "--reference", "numpy")
    assert_one_line_error(res, 2, "--reference", "--input-dir")
    res = run_cli("verify", "--input-dir", tmp_path, "--ir", tmp_path / "m.xml", "--reference", "torch")
    assert_one_line_error(res, 2, "--reference", "invalid choice")


def test_the_native_ir_gives_mxnets_outputs_off_the_card_shape(synth_dir, tmp_path):
    """On the conversion stack: the native IR against MXNet itself, run here, at a shape that is no multiple of 8 (the
    whole sweep against MXNet's golden file: the runtime stack's test above)."""
    model = ("--model", synth_dir / "model.yml")
    out = tmp_path / "native"
    res = run_cli("convert", "--input-dir", synth_dir, *model, "--output-dir", out, "--via", "native", "--precision", "FP32")
    assert res.code == 0, res.err
    res = run_cli("verify", "--input-dir", synth_dir, *model, "--artifacts", out, "--reference", "mxnet",
                  "--shapes", "1x481x777", "--samples", "0", "--photos", "0", "--json")  # fmt: skip
    assert res.code == 0, res.out[-3000:]
    report = json.loads(res.out)
    assert report["reference"] == "mxnet" and [c["label"] for c in report["checks"]] == ["ir/native/FP32"]
    assert {tuple(o["input_shape"]) for o in report["checks"][0]["outputs"]} == {(1, 3, 481, 777)}


def _every_operation() -> tuple[dict, dict]:
    """A small symbol with each operation the builder knows, in variants the SSH symbol does not use (pooling ``full``
    where it adds a window (at 18x18), grouped and dilated convolution, a grouped deconvolution with ``adj``, a crop at an offset), and
    its parameters: ``(symbol, params)``."""
    import numpy as np

    rng = np.random.default_rng(7)
    nodes = [{"op": "null", "name": "data", "inputs": []}]

    def add(op, name, attrs, inputs, params=()):
        refs = []
        for pname, shape in params:
            nodes.append({"op": "null", "name": pname, "inputs": []})
            weights[pname] = rng.normal(0, 0.2, shape).astype(np.float32)
            refs.append([len(nodes) - 1, 0, 0])
        nodes.append({"op": op, "name": name, "attrs": attrs, "inputs": [[i, 0, 0] for i in inputs] + refs})
        return len(nodes) - 1

    weights: dict = {}
    conv = add("Convolution", "conv", {"kernel": "(3, 3)", "num_filter": "4", "pad": "(1, 1)"}, [0],
               [("conv_weight", (4, 3, 3, 3)), ("conv_bias", (4,))])  # fmt: skip
    relu = add("Activation", "relu", {"act_type": "relu"}, [conv])
    pool = add("Pooling", "pool", {"kernel": "(3, 3)", "stride": "(2, 2)", "pool_type": "max", "pooling_convention": "full"}, [relu])
    grouped = add("Convolution", "grouped", {"kernel": "(3, 3)", "num_filter": "8", "num_group": "2", "pad": "(2, 2)",
                  "dilate": "(2, 2)"}, [pool], [("grouped_weight", (8, 2, 3, 3)), ("grouped_bias", (8,))])  # fmt: skip
    up = add("Deconvolution", "up", {"kernel": "(4, 4)", "num_filter": "4", "num_group": "2", "stride": "(2, 2)",
             "pad": "(1, 1)", "adj": "(1, 1)", "no_bias": "True"}, [grouped], [("up_weight", (8, 2, 4, 4))])  # fmt: skip
    crop = add("Crop", "crop", {"num_args": "2", "offset": "(2, 3)"}, [up, pool])
    total = add("elemwise_add", "sum", {}, [crop, pool])
    joined = add("Concat", "joined", {"dim": "1", "num_args": "2"}, [total, pool])
    shaped = add("Reshape", "shaped", {"shape": "(0, 2, -1, 0)"}, [joined])
    prob = add("SoftmaxActivation", "prob", {"mode": "channel"}, [shaped])
    return {"nodes": nodes, "arg_nodes": [], "heads": [[prob, 0, 0], [joined, 0, 0], [up, 0, 0]]}, weights


@pytest.mark.quick
def test_every_operation_is_built_with_mxnets_meaning(tmp_path):
    """The builder against the float64 interpreter (itself judged against MXNet in tests/model and
    tests/runtimes), on a graph of every operation; and the same comparison failing for a model
    fed without the mean, so it can fail."""
    import dataclasses

    import numpy as np
    import openvino as ov

    from sshconv.conversion.native import native_model
    from sshconv.model.checkpoint import SymbolCheckpoint
    from sshconv.model.parse import load_model_spec
    from sshconv.model.symbol_file import read_symbol
    from sshconv.runtimes.base import reference_preprocess
    from sshconv.runtimes.numpy_ref import interpret

    doc, params = _every_operation()
    (tmp_path / "s.json").write_text(json.dumps(doc))
    graph = read_symbol(tmp_path / "s.json")
    spec = load_model_spec()
    raw = np.random.default_rng(3).uniform(0, 255, (1, 3, 18, 18)).astype(np.float32)
    want = interpret(graph, params, {"data": reference_preprocess(raw, spec.input, np.float64)})

    def run(spec_used):
        model = native_model(SymbolCheckpoint(tmp_path, graph, params), spec_used, raw.shape)
        compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        out = compiled(raw)
        return {name: out[compiled.output(name)] for name in ("prob", "joined", "up")}

    got = run(spec)
    assert got["prob"].shape == want["prob"].shape == (1, 2, 36, 9) and got["joined"].shape == (1, 8, 9, 9)
    for name in ("prob", "joined", "up"):
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-4 * np.abs(want[name]).max())
    no_mean = dataclasses.replace(spec, input=dataclasses.replace(spec.input, mean_values=()))
    wrong = run(no_mean)["joined"]
    assert not np.allclose(wrong, want["joined"], rtol=1e-4, atol=1e-4 * np.abs(want["joined"]).max())


@pytest.mark.quick
def test_foreign_checkpoints_are_one_line_on_the_native_route(tmp_path):
    """A symbol that is not this network, or has an operation the builder does not know: exit 2, one line, nothing
    written. (Each way a ``.params`` file can be damaged: tests/model/test_params_file.py.)"""
    from ..model.test_params_file import _write as write_params

    doc, params = _every_operation()
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "sshb-symbol.json").write_text(json.dumps(doc))
    write_params(folder / "sshb-0000.params", params, names=[f"arg:{n}" for n in params])
    out = tmp_path / "out"
    argv = ("convert", "--input-dir", folder, "--output-dir", out, "--via", "native")
    assert_one_line_error(run_cli(*argv), 2, "outputs are ['prob', 'joined', 'up']", "model.yml expects")
    doc["nodes"][2]["op"] = "LeakyReLU"
    (folder / "sshb-symbol.json").write_text(json.dumps(doc))
    assert_one_line_error(run_cli(*argv), 2, "'LeakyReLU' is not one sshconv builds")
    assert not out.exists() or not any(out.rglob("*.xml"))
