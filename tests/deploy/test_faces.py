"""Faces artifacts (frame in, faces out): built by convert/quantize ``--faces``, checked box by box, run by detect.

On the conversion stack the faces folder is built (and shared); on the runtime stack the same files are
checked against the golden file under today's OpenVINO, and opened by OpenVINO Model API and ONNX Runtime.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from sshconv.conversion.manifest import read_manifest
from sshconv.detection.boxes import iou_matrix
from sshconv.errors import ModelFileError
from sshconv.runtimes.openvino import rt_text

from ..conftest import assert_one_line_error, conversion_stack, needs_conversion_stack, run_cli

pytestmark = pytest.mark.slow
FACES = ("faces/ir/mo/FP32", "faces/ir/mo/INT8", "faces/ir/onnx/FP32", "faces/onnx")


def _photo(width: int, height: int, seed: int, faces: int = 5) -> np.ndarray:
    from sshconv.dataset.photos import photo_bgr

    bgr, _ = photo_bgr(np.random.default_rng(seed), size=(width, height), faces=faces)
    return bgr


def _faces_xml(folder, weights: str = "FP32"):
    return folder / "ir" / "mo" / weights / "ssh-mxnet-faces.xml"


def _same_boxes(a: np.ndarray, b: np.ndarray, iou: float) -> None:
    assert len(a) == len(b), (a, b)
    if len(a):
        assert iou_matrix(a, b).max(axis=1).min() >= iou


def test_the_manifest_lists_each_faces_artifact_with_what_it_bakes_in(faces_dir):
    import openvino as ov

    manifest = read_manifest(faces_dir)
    manifest.check()
    assert sorted(a.label for a in manifest.faces_models()) == sorted(FACES)
    assert manifest.faces["fit"] == "none" and manifest.faces["score_floor"] == 0.05
    assert manifest.faces["from"]["faces/ir/mo/INT8"] == "ir/mo/INT8"
    assert all(a.label.removeprefix("faces/") in {m.label for m in manifest.models()} for a in manifest.faces_models())
    model = ov.Core().read_model(str(_faces_xml(faces_dir)))
    assert rt_text(model, ["model_info", "model_type"]) == "SSD"
    assert rt_text(model, ["model_info", "embedded_processing"]) == "True"
    assert rt_text(model, ["sshconv", "fit"]) == "none"
    assert [p.get_element_type().get_type_name() for p in model.inputs] == ["u8"]
    assert {n for o in model.outputs for n in o.get_names()} >= {"faces", "face_image", "bboxes", "scores", "labels"}
    # Only OpenVINO's standard operation sets: nothing custom, nothing a runtime needs an extension for.
    custom = {op.get_type_name() for op in model.get_ordered_ops() if not op.get_type_info().version_id.startswith("opset")}
    assert not custom


@pytest.mark.neutral
def test_verify_passes_the_faces_artifacts_at_several_shapes_and_catches_each_control(
    faces_dir, tmp_path, golden_shapes_photo_file
):
    """Boxes against the reference decoder on MXNet's outputs, from the golden file of the sweep's shapes (made by MXNet
    once a session, ``verify_shapes``; its photo at each), on both stacks."""
    report = tmp_path / "faces.json"
    ref = ("--golden", golden_shapes_photo_file)
    res = run_cli("verify", *ref, "--ir", _faces_xml(faces_dir), "--self-test", "--json-file", report)
    assert res.code == 0, res.out + res.err
    doc = json.loads(report.read_text())
    checks = [f for f in doc["faces_artifacts"] if "control" not in f]
    controls = [f for f in doc["faces_artifacts"] if "control" in f]
    assert [c["label"] for c in checks] == ["faces/ir"] and checks[0]["passed"] and checks[0]["faces"] > 0
    assert checks[0]["min_iou"] >= 0.99
    assert {f["input_shape"][0] for f in checks[0]["frames"]} == {1, 2}  # the batch's frames are each judged
    assert sorted(c["control"] for c in controls) == ["nms-off", "no-plus-one", "strides-swapped"]
    assert all(c["caught"] for c in controls), controls
    assert "caught (FAIL as expected)" in res.out


@pytest.mark.neutral
def test_detect_with_the_faces_artifact_finds_what_the_raw_ir_and_python_decoder_find(faces_dir, tmp_path):
    from PIL import Image

    photo = tmp_path / "frame.png"
    Image.fromarray(_photo(960, 540, seed=11)[:, :, ::-1]).save(photo)
    raw = run_cli("detect", photo, "--ir", faces_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml", "--fit", "native", "--json")
    faces = run_cli("detect", photo, "--ir", _faces_xml(faces_dir), "--json")
    assert raw.code == 0 and faces.code == 0, raw.err + faces.err
    a, b = (np.array([f["box"] + [f["score"]] for f in json.loads(r.out)[0]["faces"]]) for r in (raw, faces))
    assert len(a) > 0
    _same_boxes(a, b, 0.99)
    bad = run_cli("detect", photo, "--ir", _faces_xml(faces_dir), "--fit", "upstream")
    assert_one_line_error(bad, 2, "fits frames itself", "--fit")
    low = run_cli("detect", photo, "--ir", _faces_xml(faces_dir), "--threshold", "0.01")
    assert_one_line_error(low, 2, "0.05", "--threshold")


def test_a_raw_model_is_not_taken_for_a_faces_artifact(faces_dir):
    from sshconv.runtimes.faces import FacesRunner

    with pytest.raises(ModelFileError, match="not a faces artifact"):
        with FacesRunner(faces_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"):
            pass


@pytest.mark.parametrize("field, value", [("score_floor", "high"), ("score_floor", "1.5"), ("fit", "../../x")])
def test_baked_in_facts_edited_by_hand_are_one_line_naming_the_field(faces_dir, tmp_path, field, value):
    """The faces IR's runtime info is read back by detect: a value sshconv never writes is the file's fault (exit 2)."""
    import shutil

    src = _faces_xml(faces_dir)
    edited = tmp_path / src.name
    text = src.read_text()
    assert text.count(f"<{field} value=") == 1
    edited.write_text(text.replace(f'<{field} value="{rt_text_value(text, field)}"', f'<{field} value="{value}"'))
    shutil.copyfile(src.with_suffix(".bin"), edited.with_suffix(".bin"))
    photo = tmp_path / "p.png"
    from sshconv.detection.images import save_bgr

    save_bgr(_photo(64, 48, 1, faces=0), photo)
    res = run_cli("detect", "--ir", edited, photo)
    assert_one_line_error(res, 2, str(edited), f"sshconv.{field}", value)


@pytest.mark.parametrize("height, width, said", [(16, 900, "at least 32 pixels"), (2100, 2100, "over the budget")])
def test_a_frame_the_network_cannot_take_as_it_is_is_refused_before_it_runs(faces_dir, tmp_path, height, width, said):
    """The faces IRs here fit nothing (fit none): a frame goes into the network as it is, so it must be a size the
    network takes (one stride-32 cell) and within the memory budget (two 1920x1080 frames), checked before compiling."""
    from sshconv.detection.images import save_bgr

    photo = save_bgr(np.zeros((height, width, 3), np.uint8), tmp_path / "p.png")
    res = run_cli("detect", "--ir", _faces_xml(faces_dir), photo)
    assert_one_line_error(res, 2, "fit none", said, "converted with a fit")


def rt_text_value(xml: str, field: str) -> str:
    return xml.split(f"<{field} value=\"", 1)[1].split('"', 1)[0]


@pytest.mark.skipif(conversion_stack(), reason="OpenVINO Model API needs OpenVINO >= 2025.3: the runtime stack")
def test_openvino_model_api_opens_the_faces_irs_and_finds_the_faces_detect_finds(faces_dir):
    """No sshconv code on Model API's side: model_info makes it a detection model, FP32 and INT8 alike."""
    import openvino as ov
    from model_api.adapters import OpenvinoAdapter
    from model_api.models import DetectionModel

    from sshconv.conversion.faces import CONFIDENCE
    from sshconv.deploy.detect import faces_on
    from sshconv.runtimes.faces import FacesRunner

    for weights in ("FP32", "INT8"):
        xml = _faces_xml(faces_dir, weights)
        # f32 execution as detect's runner: the plugin's default is bf16 on CPUs that have it, which moves scores ~1e-2.
        adapter = OpenvinoAdapter(ov.Core(), str(xml), device="CPU", plugin_config={"INFERENCE_PRECISION_HINT": "f32"})
        model = DetectionModel.create_model(adapter)
        with FacesRunner(xml) as ours:
            for seed, (w, h) in enumerate(((640, 640), (1280, 720), (777, 481))):
                frame = _photo(w, h, seed)
                result = model(frame)
                mine = faces_on(ours, frame, CONFIDENCE + 1e-6)  # Model API keeps scores above it, strictly
                theirs = np.hstack([np.asarray(result.bboxes, np.float32), np.asarray(result.scores)[:, None]])
                assert set(result.label_names) <= {"face"}
                _same_boxes(mine, theirs, 0.9)  # Model API rounds boxes to whole pixels
                assert np.abs(np.sort(mine[:, 4]) - np.sort(theirs[:, 4])).max() < 1e-5


@pytest.mark.skipif(conversion_stack(), reason="ONNX Runtime is the runtime stack's")
def test_onnx_runtime_runs_the_faces_onnx_with_the_same_faces_as_openvino(faces_dir):
    from sshconv.runtimes.faces import FacesRunner

    frames = np.stack([_photo(700, 500, 1), _photo(700, 500, 2)])  # a batch of two frames
    with FacesRunner(faces_dir / "onnx" / "ssh-mxnet-faces.onnx", runtime="onnxruntime") as ort, \
            FacesRunner(faces_dir / "onnx" / "ssh-mxnet-faces.onnx") as ov:  # fmt: skip
        a, b = ort.infer_frames(frames), ov.infer_frames(frames)
    assert set(a["face_image"]) == {0, 1}
    for i in (0, 1):
        _same_boxes(a["faces"][a["face_image"] == i], b["faces"][b["face_image"] == i], 0.99)


@needs_conversion_stack
@pytest.mark.parametrize("fit", ["upstream", "native", "320x480"])
def test_each_fit_gives_the_network_detects_size_and_the_decoding_follows(faces_dir, fit, tmp_path):
    """The in-graph fitting sizes frames as detect's fits do; its pixels are OpenCV's within one level; the
    faces equal the Python decoder's on the raw IR's outputs for the same fitted tensor."""
    import onnx
    import openvino as ov

    from sshconv.conversion.faces import faces_ir
    from sshconv.conversion.faces_graph import FacesOptions, wrapper_model
    from sshconv.detection.decode import DecodeConfig, decode
    from sshconv.detection.fitting import target_size
    from sshconv.detection.images import resize
    from sshconv.model import load_model_spec
    from sshconv.runtimes import OpenVINORunner
    from sshconv.runtimes.faces import FacesRunner

    spec = load_model_spec(None)
    config = DecodeConfig.for_spec(spec, score_threshold=0.05)
    options = FacesOptions(fit, 0.05, config)
    raw_xml = faces_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    wrapper = tmp_path / "wrapper.onnx"
    onnx.save(wrapper_model(spec, options), str(wrapper))
    model = faces_ir(ov.Core().read_model(str(raw_xml)), wrapper, spec, options)
    with FacesRunner(model, with_input="data") as runner, OpenVINORunner(raw_xml, spec) as raw:
        for seed, (w, h) in enumerate(((777, 481), (90, 40))):
            frame = _photo(w, h, seed, faces=3)
            out = runner.infer_frames(frame)
            fitted = out["data"]
            th, tw = target_size(h, w, fit, (640, 640))
            assert fitted.shape == (1, 3, th, tw)
            opencv = resize(frame, th, tw).transpose(2, 0, 1)[None].astype(np.float32)
            assert np.abs(fitted - opencv).max() <= 1.0
            ref = decode(raw.infer(fitted), (th, tw), config, (th / h, tw / w))
            got = out["faces"]
            assert len(ref) == len(got)
            if len(ref):
                assert iou_matrix(ref, got).max(axis=1).min() >= 0.99
                assert np.abs(np.sort(ref[:, 4]) - np.sort(got[:, 4])).max() < 1e-4


@needs_conversion_stack
def test_convert_faces_flags_and_their_errors(faces_dir, tmp_path):
    onnx_file = faces_dir / "onnx" / "ssh-mxnet.onnx"
    out = tmp_path / "from-onnx"
    res = run_cli("convert", "--from-onnx", onnx_file, "--output-dir", out, "--precision", "FP32", "--faces",
                  "--faces-fit", "upstream", "--json")  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(res.out)
    assert doc["faces"]["fit"] == "upstream"
    assert (out / "ir" / "onnx" / "FP32" / "ssh-mxnet-faces.xml").is_file()
    bad = run_cli("convert", "--from-onnx", onnx_file, "--output-dir", tmp_path / "x", "--faces", "--faces-fit", "sideways")
    assert_one_line_error(bad, 2, "--faces-fit", "sideways")
    assert not (tmp_path / "x").exists()
    floor = run_cli("convert", "--from-onnx", onnx_file, "--output-dir", tmp_path / "y", "--faces", "--faces-floor", "1.5")
    assert_one_line_error(floor, 2, "--faces-floor")
    alone = run_cli("quantize", "--ir", onnx_file, "--out", tmp_path / "q.xml", "--faces")
    assert_one_line_error(alone, 2, "--faces", "--artifacts")
    # Another fit into a folder whose faces artifacts bake in this one: refused, nothing changed.
    again = run_cli("quantize", "--artifacts", out, "--faces", "--faces-fit", "none")
    assert_one_line_error(again, 2, "bake in")


@pytest.mark.neutral
def test_bench_times_frame_to_faces_both_ways(faces_dir, tmp_path):
    """The faces artifact and the raw model + Python decoder, each against the network alone (figures: the script's)."""
    report = tmp_path / "bench.json"
    res = run_cli("bench", "--artifacts", faces_dir, "--no-mxnet", "--faces", "--seconds", "0.1",
                  "--shapes", "1x160x224", "--json-file", report)  # fmt: skip
    assert res.code == 0, res.err
    doc = json.loads(report.read_text())
    names = {c["name"] for c in doc["cases"]}
    assert {"faces/ir/mo/FP32", "faces/ir/mo/INT8", "ir/mo/FP32 + decoder", "ir/mo/INT8 + decoder"} <= names
    rows = {r["faces"]: r for r in doc["faces_overhead"]}
    assert set(rows) == {"faces/ir/mo/FP32", "faces/ir/mo/INT8", "faces/ir/onnx/FP32"} and all(
        r["shape"] == "1x3x160x224" for r in rows.values()
    )
    assert all(r["faces_s"] > 0 and r["network_s"] > 0 for r in rows.values())
    assert "frame to faces @ 1x3x160x224" in res.out
    alone = run_cli("bench", "--ir", faces_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml", "--no-mxnet", "--faces")
    assert_one_line_error(alone, 2, "--faces", "--artifacts")
