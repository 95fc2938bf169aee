"""CLI conventions that hold for every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sshconv.cli import build_parser

from ..conftest import ROOT, assert_one_line_error, run_cli, run_sshconv


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_help_with_an_example_and_is_in_readme(name, capsys):
    parser = _commands()[name]
    text = parser.format_help()
    assert "example:" in text and f"sshconv {name}" in text
    assert "-v, --verbose" in text
    readme = (ROOT / "README.md").read_text()
    assert f"### `sshconv {name}`" in readme
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag not in ("--help", "--verbose"):
                assert f"`{flag}" in readme, f"README does not document {name} {flag}"


def test_help_does_not_import_heavy_frameworks():
    code = (
        "import sys; from sshconv.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for name in list(_commands := [c for c in ('info','synth','download','convert','verify','detect','bench','demo')]):\n"
        "    try:\n        main([name, '--help'])\n    except SystemExit:\n        pass\n"
        "heavy = [m for m in ('mxnet', 'openvino', 'onnx', 'numpy', 'matplotlib') if m in sys.modules]\n"
        "print('HEAVY:' + ','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    heavy = [ln for ln in out.stdout.splitlines() if ln.startswith("HEAVY:")]
    assert heavy == ["HEAVY:"], f"imported by --help: {heavy}"


def test_python_dash_m_and_version():
    res = run_sshconv("--version")
    assert res.returncode == 0 and "sshconv" in res.stdout


def test_no_command_and_unknown_flag_exit_2():
    assert run_cli().code == 2
    assert_one_line_error(run_cli("info", "--no-such-flag"), 2, "unrecognized arguments")


def test_info_from_model_yml_alone():
    res = run_cli("info")
    assert res.code == 0
    assert "ssh-model-final.zip" in res.out and "rpn_bbox_pred_stride8" in res.out


@pytest.mark.slow
def test_info_json_with_checkpoint(synth_dir):
    import json

    res = run_cli("info", "--input-dir", synth_dir, "--json")
    assert res.code == 0, res.err
    info = json.loads(res.out)
    assert info["params"] == 19_768_420
    assert abs(info["gflops"] - 267.0594) / 267.0594 < 0.01
    assert info["outputs"][0] == {"name": "rpn_cls_prob_reshape_stride32", "shape": [1, 4, 20, 20]}
    assert len(info["outputs"]) == 6


def test_info_bad_checkpoint_dir(tmp_path):
    assert_one_line_error(run_cli("info", "--input-dir", tmp_path / "none"), 2, "does not exist")
    assert_one_line_error(run_cli("info", "--input-dir", tmp_path), 2, "sshb-symbol.json", "missing")
