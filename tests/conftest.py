"""Shared fixtures. Full-size artifacts are made once per test session and shared.

Tests that need a checkpoint use ``synth_dir``: the synthetic ``sshb`` checkpoint at
full size (made once, ~20 s). Fixtures that need more (converted IR, golden files)
build on it here so that each expensive step runs once per session.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sshconv.cli import main

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> CliResult:
    """Run the CLI in-process; return exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return CliResult(code, out.getvalue(), err.getvalue())


def run_sshconv(*argv: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m sshconv`` as a subprocess (what a user's shell does)."""
    env = {**os.environ, **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "sshconv", *map(str, argv)],
        capture_output=True, text=True, timeout=timeout, env=env, **kw,
    )  # fmt: skip


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    """The run failed with ``code`` and said why in one line, without a traceback."""
    err = result.err if isinstance(result, CliResult) else result.stderr
    got = result.code if isinstance(result, CliResult) else result.returncode
    assert got == code, f"exit {got}, expected {code}; stderr: {err}"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line error, got: {err}"
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """The full-size synthetic checkpoint with the default seed (read-only: copy before changing)."""
    from sshconv.synth import synthesize

    folder = tmp_path_factory.mktemp("synth")
    synthesize(folder)
    return folder


@pytest.fixture(scope="session")
def converted_dir(synth_dir, tmp_path_factory) -> Path:
    """``sshconv convert`` of the synthetic checkpoint, both routes, FP32 and FP16 (read-only).

    Layout: ``ir/{mo,onnx}/{FP32,FP16}/ssh-mxnet.{xml,bin}``, ``onnx/ssh-mxnet.onnx``, ``manifest.json``.
    """
    from sshconv.convert import convert
    from sshconv.spec import load_model_spec

    out = tmp_path_factory.mktemp("converted")
    convert(load_model_spec(synth_dir / "model.yml"), synth_dir, out, via=("mo", "onnx"), precisions=("FP32", "FP16"))
    return out


@dataclass
class VerifyRun:
    result: CliResult
    golden: Path
    report: Path


@pytest.fixture(scope="session")
def verify_artifacts(synth_dir, converted_dir, tmp_path_factory) -> VerifyRun:
    """``sshconv verify --artifacts`` of ``converted_dir`` against MXNet, run once per session.

    Also writes a golden file (inputs + MXNet outputs) so that later checks need no MXNet,
    and the JSON report. Read-only.
    """
    out = tmp_path_factory.mktemp("verify")
    golden, report = out / "golden.npz", out / "report.json"
    res = run_cli(
        "verify", "--model", synth_dir / "model.yml", "--input-dir", synth_dir, "--artifacts", converted_dir,
        "--save-golden", golden, "--json", report,
    )  # fmt: skip
    return VerifyRun(res, golden, report)
