"""README's examples run as written: every `sshconv …` command line parses with the real parser (no flag renamed
under it, no deprecated spelling), and the Python API example runs end to end on the conversion stack."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from sshconv.cli import build_parser
from sshconv.dataset.photos import make_photos

from .conftest import ROOT, needs_conversion_stack

README = (ROOT / "README.md").read_text()
BLOCK = re.compile(r"```(\w*)\n(.*?)```", re.S)


def _command_lines() -> list[str]:
    lines = []
    for lang, body in BLOCK.findall(README):
        if lang not in ("", "bash", "sh"):
            continue
        for line in body.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("sshconv ") and "…" not in part:
                    lines.append(part)
    return lines


@pytest.mark.quick
def test_readme_has_command_examples():
    assert len(_command_lines()) > 40


@pytest.mark.quick
@pytest.mark.parametrize("line", _command_lines())
def test_every_command_line_of_the_readme_parses(line):
    argv = shlex.split(line, comments=True)[1:]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            assert exc.code == 0, line
            return
    assert hasattr(args, "func"), line
    assert "deprecated" not in err.getvalue(), f"README uses an old spelling: {line}"


def _python_example() -> str:
    section = README[README.index("## Python API") :]
    return BLOCK.search(section).group(2)


@pytest.mark.slow
@needs_conversion_stack
def test_the_python_api_example_runs_as_written(synth_dir, tmp_path):
    """In a fresh folder with what the text before it says to make: the synthetic checkpoint and 4 photos."""
    shutil.copytree(synth_dir, tmp_path / "synthetic")
    make_photos(tmp_path / "photos", count=4, seed=5)
    (tmp_path / "example.py").write_text(_python_example())
    res = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    last = res.stdout.strip().splitlines()
    assert last[-2].startswith("True"), res.stdout[-2000:]
    assert "'mxnet':" in last[-1] and "'ir/mo/FP32':" in last[-1]
