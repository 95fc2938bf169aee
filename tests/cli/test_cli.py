"""CLI conventions that hold for every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sshconv.cli import build_parser

from ..conftest import ROOT, assert_one_line_error, run_cli, run_sshconv

pytestmark = pytest.mark.quick


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_command_has_help_with_an_example_and_a_page_that_documents_every_flag(name, capsys):
    """Besides the generated reference (tests/test_docs.py), each command's own page says what each flag is for."""
    parser = _commands()[name]
    text = parser.format_help()
    assert "example:" in text and f"sshconv {name}" in text
    assert "-v, --verbose" in text
    pages = "\n".join(p.read_text() for p in sorted((ROOT / "docs" / "commands").glob("*.md")))
    assert f"# `sshconv {name}`" in pages
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag not in ("--help", "--verbose"):
                assert f"`{flag}" in pages, f"docs/commands/ does not document {name} {flag}"


def test_help_does_not_import_heavy_frameworks():
    code = (
        "import sys; from sshconv.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"for name in {sorted(_commands())!r}:\n"
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


#: Flags every command that takes them defines through one shared option group (sshconv/cli/common.py).
SHARED_FLAGS = (
    "--model",
    "--input-dir",
    "--artifacts",
    "--ir",
    "--onnx",
    "--images",
    "--photos",
    "--json",
    "--json-file",
    "--html",
    "--progress",
    "--runtime",
)


@pytest.mark.parametrize("flag", SHARED_FLAGS)
def test_a_shared_flag_means_one_thing_with_one_help_text(flag):
    helps = {}
    for name, parser in _commands().items():
        for action in parser._actions:
            if flag in action.option_strings:
                helps.setdefault(action.help, []).append(name)
    assert helps, f"no command takes {flag}"
    assert len(helps) == 1, f"{flag} has {len(helps)} help texts: {helps}"


def test_flag_combinations_are_checked_by_the_library_not_the_parser():
    """One rule: the library function a command calls checks which parameters go together (and the CLI names its flags),
    so the API and the command line refuse the same things in the same words."""
    grouped = {name: len(p._mutually_exclusive_groups) for name, p in _commands().items() if p._mutually_exclusive_groups}
    assert not grouped, f"combinations checked by argparse: {grouped}"
    assert_one_line_error(run_cli("bench", "--ir", "a.xml", "--onnx", "b.onnx"), 2, "exactly one of", "--ir", "--onnx")
    assert_one_line_error(run_cli("verify", "--ir", "a.xml", "--onnx", "b.onnx", "--golden", "g.npz"), 2, "only one of", "--ir")
    assert_one_line_error(run_cli("quantize", "--ir", "a.xml"), 2, "--ir needs --out")
    assert_one_line_error(run_cli("detect", "photo.jpg"), 2, "--ir")
    assert_one_line_error(run_cli("convert", "--from-onnx", "x.onnx", "--via", "mo", "--output-dir", "o"), 2, "--from-onnx")


def test_json_prints_in_every_command_and_the_old_file_spelling_still_works(tmp_path):
    """--json is a switch everywhere (the result on stdout); verify's and eval's old --json FILE writes FILE with a note."""
    for name, parser in _commands().items():
        action = next((a for a in parser._actions if "--json" in a.option_strings), None)
        assert action is not None, f"{name} has no --json"
        assert action.const is True or action.nargs == 0, f"{name}: --json takes a value"
    res = run_cli("info", "--json")
    assert res.code == 0 and res.out.lstrip().startswith("{")
    res = run_cli("verify", "--golden", tmp_path / "none.npz", "--ir", tmp_path / "x.xml", "--json", tmp_path / "r.json")
    lines = res.err.strip().splitlines()
    assert res.code == 2 and "deprecated" in lines[0] and "--json-file" in lines[0] and len(lines) == 2, res.err
