"""model.yml: the real file, the zoo's verbatim file, and a dozen bad ones."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sshconv.errors import SpecError
from sshconv.model import PACKAGED_MODEL_YML, load_model_spec, parse_model_spec
from sshconv.model.spec import RegexReplace, UnpackArchive

from ..conftest import ROOT, assert_one_line_error, run_cli

pytestmark = pytest.mark.quick

# The zoo's own description of ssh-mxnet, as it ships (licence header left out).
OMZ_VERBATIM = """\
description: >-
  SSH: Single Stage Headless Face Detector. More details provided in the repository
  <https://github.com/deepinsight/mxnet-SSH> and paper <https://arxiv.org/abs/1708.03979>.
task_type: detection
files:
  - name: ssh-model-final.zip
    size: 73316283
    sha256: 1ac43c830fe8f5de069a35101cc38b03751c8502e9c62e9a945424a05e25dc6c
    source: https://www.dropbox.com/s/06zmchmq4iwj6rt/ssh-model-final.zip?dl=1
postprocessing:
  - $type: unpack_archive
    format: zip
    file: ssh-model-final.zip
model_optimizer_args:
  - --input_shape=[1,3,640,640]
  - --input=data
  - --input_model=$dl_dir/sshb-0000.params
  - --mean_values=data[123.68,116.779,103.939]
  - --reverse_input_channels
framework: mxnet
license: https://raw.githubusercontent.com/deepinsight/mxnet-SSH/master/LICENSE
"""

GOOD_FILE = {
    "name": "ssh-model-final.zip",
    "size": 10,
    "sha256": "a" * 64,
    "source": "https://example.com/ssh-model-final.zip",
}


def doc(**over):
    base = {"files": [dict(GOOD_FILE)], "framework": "mxnet"}
    base.update(over)
    return base


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "model.yml"
    p.write_text(textwrap.dedent(text))
    return p


def test_packaged_model_yml_is_the_real_model():
    spec = load_model_spec()
    assert spec.path == PACKAGED_MODEL_YML
    (f,) = spec.files
    assert (f.name, f.size) == ("ssh-model-final.zip", 73316283)
    assert f.sha256 == "1ac43c830fe8f5de069a35101cc38b03751c8502e9c62e9a945424a05e25dc6c"
    assert f.urls == ("https://www.dropbox.com/s/06zmchmq4iwj6rt/ssh-model-final.zip?dl=1",)
    assert spec.postprocessing == (UnpackArchive(file="ssh-model-final.zip", format="zip"),)
    assert spec.input.name == "data" and spec.input.shape == (1, 3, 640, 640)
    assert spec.input.mean_values == (123.68, 116.779, 103.939)
    assert spec.input.reverse_input_channels is True
    assert [o.name for o in spec.outputs][:2] == ["rpn_cls_prob_reshape_stride32", "rpn_bbox_pred_stride32"]
    assert spec.outputs[-1].shape == (1, 8, 80, 80)
    assert spec.quantizable is None, "the last Open Model Zoo model.yml of ssh-mxnet has no such key"
    assert spec.tolerance("FP32", "rpn_cls_prob_reshape_stride8:0").atol > 0
    from sshconv.model.spec import DEFAULT_DETECTION, DetectionThresholds

    assert spec.detection["INT8"] == DetectionThresholds(**DEFAULT_DETECTION["INT8"])  # model.yml says what the code does


def test_top_level_model_yml_is_the_packaged_one():
    assert (ROOT / "model.yml").read_bytes() == PACKAGED_MODEL_YML.read_bytes()


def test_omz_verbatim_file_loads(tmp_path):
    spec = load_model_spec(write(tmp_path, OMZ_VERBATIM))
    assert spec.files[0].size == 73316283
    assert spec.quantizable is None
    assert spec.input.mean_values == (123.68, 116.779, 103.939)
    assert len(spec.outputs) == 6  # defaults for a 640x640 input
    assert spec.model_optimizer_args[2] == "--input_model=$dl_dir/sshb-0000.params"


def test_sshconv_extensions(tmp_path):
    spec = parse_model_spec(
        doc(
            files=[dict(GOOD_FILE, sources=["https://m1.example/x.zip", "http://m2.example/x.zip"])],
            postprocessing=[{"$type": "regex_replace", "file": "a.json", "pattern": "x+", "replacement": "y", "count": 2}],
            verification={"tolerances": {"fp16": {"bbox_pred": {"atol": 0.5}}}, "detection": {"int8": {"recall": 0.9}}},
        ),
        tmp_path / "m.yml",
    )
    int8 = spec.detection["INT8"]
    assert int8.recall == 0.9 and int8.precision == 0.95 and int8.score_slack == 0.05  # the others keep their defaults
    assert spec.files[0].urls == (
        "https://example.com/ssh-model-final.zip",
        "https://m1.example/x.zip",
        "http://m2.example/x.zip",
    )
    assert spec.postprocessing == (RegexReplace("a.json", "x+", "y", 2),)
    tol = spec.tolerance("FP16", "rpn_bbox_pred_stride16")
    assert tol.atol == 0.5 and tol.rtol > 0  # rtol keeps its default


BAD = [
    ("files: 42\nframework: mxnet\n", "files: expected a list, got 42"),
    ("- just\n- a list\n", "top level: expected a mapping"),
    ("framework: mxnet\n", "files: missing"),
    ("files: []\nframework: mxnet\n", "files: expected at least one file"),
    (None, 'files[0].sha256: expected 64 hex characters, got "abc123"'),
    (None, "files[0].size: expected a size >= 0, got -1"),
    (None, 'files[0].size: expected an integer, got "big"'),
    (None, "files[0].name: expected a file name without '..'"),
    (None, "files[0].name: expected a relative file name"),
    (None, "files[0].source: expected a URL with scheme http, https, file"),
    (None, "postprocessing[0].$type: expected unpack_archive or regex_replace"),
    (None, "postprocessing[0].format: expected one of zip, tar, gztar, bztar, xztar"),
    (None, "postprocessing[0].file: expected one of the files"),
    (None, "postprocessing[0].pattern: expected a valid regular expression"),
    (None, "files[0].name: missing"),
    (None, "outputs[0].shape: expected 4 positive dimensions"),
    (None, "verification.tolerances.FP64: expected a precision among FP32, FP16, BF16"),
    (None, "verification.tolerances.FP32.cls_prob.atol: expected a tolerance >= 0"),
    (None, "verification.detection.FP32: expected a quantized precision among INT8"),
    (None, "verification.detection.INT8.recall: expected a number from 0 to 1"),
    (None, "verification.detection.INT8.iou: expected recall, precision or score_slack"),
    (None, "model_optimizer_args[0]: expected --mean_values=NAME[m0,m1,m2]"),
    ("files: [\n", "not valid YAML at line"),
]

BAD_DOCS = [
    doc(files=[dict(GOOD_FILE, sha256="abc123")]),
    doc(files=[dict(GOOD_FILE, size=-1)]),
    doc(files=[dict(GOOD_FILE, size="big")]),
    doc(files=[dict(GOOD_FILE, name="../evil.zip")]),
    doc(files=[dict(GOOD_FILE, name="/etc/passwd")]),
    doc(files=[dict(GOOD_FILE, source="ftp://example.com/x.zip")]),
    doc(postprocessing=[{"$type": "run_shell", "file": "ssh-model-final.zip"}]),
    doc(postprocessing=[{"$type": "unpack_archive", "file": "ssh-model-final.zip", "format": "rar"}]),
    doc(postprocessing=[{"$type": "unpack_archive", "file": "other.zip", "format": "zip"}]),
    doc(postprocessing=[{"$type": "regex_replace", "file": "a", "pattern": "(", "replacement": ""}]),
    doc(files=[{k: v for k, v in GOOD_FILE.items() if k != "name"}]),
    doc(outputs=[{"name": "rpn_bbox_pred_stride8", "shape": [1, 8, 80]}]),
    doc(verification={"tolerances": {"FP64": {}}}),
    doc(verification={"tolerances": {"FP32": {"cls_prob": {"atol": -1}}}}),
    doc(verification={"detection": {"FP32": {"recall": 0.9}}}),
    doc(verification={"detection": {"INT8": {"recall": 1.5}}}),
    doc(verification={"detection": {"INT8": {"iou": 0.5}}}),
    doc(model_optimizer_args=["--mean_values=data[1,2]"]),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_model_yml_is_one_line_exit_2(tmp_path, case):
    text, expected = BAD[case]
    if text is None:
        import yaml

        text = yaml.safe_dump(BAD_DOCS[[i for i, (t, _) in enumerate(BAD) if t is None].index(case)])
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_model_spec(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)
    result = run_cli("info", "--model", path)
    assert_one_line_error(result, 2, expected)


def test_missing_and_unreadable_model_yml(tmp_path):
    assert_one_line_error(run_cli("info", "--model", tmp_path / "nope.yml"), 2, "no such file")
    assert_one_line_error(run_cli("info", "--model", tmp_path), 2, "is a folder")
    binary = tmp_path / "bin.yml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(run_cli("info", "--model", binary), 2, "cannot read")


# --------------------------------------------------------------------------- Model Optimizer arguments are untrusted

OMZ_ARGS = [
    "--input_shape=[1,3,640,640]",
    "--input=data",
    "--input_model=$dl_dir/sshb-0000.params",
    "--mean_values=data[123.68,116.779,103.939]",
    "--reverse_input_channels",
]


@pytest.mark.parametrize(
    "arg, why",
    [
        ("--extensions=/tmp/evil", "loads and runs Python code"),
        ("--transformations_config=/tmp/evil.json", "loads a transformation config"),
        ("--output_dir=/etc", "writes files where model.yml says"),
        ("--model_name=../../x", "names the files written"),
        ("--log_level=DEBUG", "changes what Model Optimizer logs"),
        ("--output=conv1_1", "changes which outputs the converted model has"),
        ("--data_type=FP16", "changes the IR's precision"),
        ("--compress_to_fp16", "changes the IR's precision"),
        ("--no_such_option=1", "does not describe the model"),
        ("--framework=tf", "this model is an MXNet checkpoint"),
        ("--input_model=/etc/passwd", "must name a file inside the checkpoint folder"),
        ("--input_model=$dl_dir/../x.params", "must name a file inside the checkpoint folder"),
        ("--input_model", "must name a file inside the checkpoint folder"),
        ("--input_symbol=$dl_dir/$HOME/x", "must name a file inside the checkpoint folder"),
        ("input=data", "an argument must be --key or --key=value"),
    ],
)
def test_model_optimizer_arguments_that_do_not_describe_the_model_are_refused(tmp_path, arg, why):
    import yaml

    path = tmp_path / "model.yml"
    path.write_text(yaml.safe_dump(doc(model_optimizer_args=[*OMZ_ARGS, arg])))
    res = run_cli("info", "--model", path)
    assert_one_line_error(res, 2, str(path), "model_optimizer_args[5]", "refused", why, "remove it from model.yml")


def test_model_optimizer_arguments_that_describe_the_model_pass():
    allowed = [
        *OMZ_ARGS,
        "--scale_values=data[1,1,1]",
        "--layout=data(NCHW)",
        "--framework=mxnet",
        "--input_symbol=$dl_dir/sshb-symbol.json",
    ]
    spec = parse_model_spec(doc(model_optimizer_args=allowed), Path("model.yml"))
    assert spec.model_optimizer_args == tuple(allowed)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    """Nine levels of aliases, each repeating the one below nine times (9**9 strings if walked): the typed parser
    stops at the first element that is not what the field takes, without walking the rest."""
    import time

    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "model.yml"
    path.write_text("\n".join([*lines, "files: *a8", "model_optimizer_args: *a8", ""]))
    t0 = time.perf_counter()
    res = run_cli("info", "--model", path)
    assert time.perf_counter() - t0 < 5
    assert_one_line_error(res, 2, str(path))
    assert len(res.err) < 1000
