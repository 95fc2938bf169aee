"""The two halves: without the conversion stack or ONNX Runtime, the commands that need them say which extra to install."""

from __future__ import annotations

import pytest

from sshconv.errors import MissingExtraError
from sshconv.extras import install_hint, require
from sshconv.model.network import output_names

from .conftest import assert_one_line_error, run_sshconv, tiny_ir, without_modules

CONVERT_HINT = "pip install 'sshconv[convert]' on Python 3.11"


@pytest.mark.quick
def test_require_names_the_extra():
    assert install_hint("mxnet") == CONVERT_HINT
    assert install_hint("onnxruntime") == "pip install 'sshconv[onnxruntime]'"
    assert install_hint("onnx") == "pip install 'sshconv[faces]'"  # the faces wrapper; the onnx route needs MXNet first
    with pytest.raises(MissingExtraError, match=r"doing it needs onnxruntime, .*pip install 'sshconv\[onnxruntime\]'"):
        _fail_import("onnxruntime")


def _fail_import(module: str):
    import sys

    saved = sys.modules.get(module)
    sys.modules[module] = None  # an entry of None makes `import module` raise ImportError
    try:
        require(module, "doing it")
    finally:
        if saved is None:
            del sys.modules[module]
        else:
            sys.modules[module] = saved


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "--output-dir", "{tmp}/synthetic"],
        ["convert", "--input-dir", "{tmp}", "--output-dir", "{tmp}/converted", "--via", "mo"],
        ["info", "--input-dir", "{tmp}"],
        ["verify", "--input-dir", "{tmp}", "--ir", "{tmp}/ir/tiny.xml", "--reference", "mxnet"],
    ],
    ids=["synth", "convert", "info", "verify"],
)
@pytest.mark.quick
def test_checkpoint_commands_without_mxnet_name_the_convert_extra(tmp_path, argv):
    """Where MXNet is asked for. (By default, convert and verify go without it: tests/conversion/test_native.py.)"""
    (tmp_path / "sshb-symbol.json").write_text("{}")
    (tmp_path / "sshb-0000.params").write_bytes(b"x")
    tiny_ir(tmp_path / "ir", names=output_names())  # a valid model: verify reads models before MXNet
    proc = run_sshconv(*[a.replace("{tmp}", str(tmp_path)) for a in argv], env=without_modules(tmp_path, "mxnet"))
    assert_one_line_error(proc, 2, "needs mxnet", CONVERT_HINT)
    assert not (tmp_path / "synthetic").exists() and not (tmp_path / "converted").exists()


def test_onnx_runtime_missing_names_its_extra(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    proc = run_sshconv(
        "bench", "--onnx", onnx, "--runtime", "onnxruntime", "--seconds", "1", env=without_modules(tmp_path, "onnxruntime")
    )
    assert_one_line_error(proc, 2, "needs onnxruntime", "pip install 'sshconv[onnxruntime]'")


@pytest.mark.quick
@pytest.mark.parametrize("given", [None, "1"])
def test_mxnet_gets_every_usable_core_unless_told_otherwise(given):
    """MXNet reads OMP_NUM_THREADS once, when it loads, and uses one thread without it: it is set before."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    if given:
        env["OMP_NUM_THREADS"] = given
    code = (
        "import os, sys\n"
        "from sshconv.extras import require\n"
        "from sshconv.versions import available_cores, engine_config\n"
        "try:\n    require('mxnet', 'the test')\nexcept Exception:\n    pass\n"
        "print(os.environ.get('OMP_NUM_THREADS'), available_cores(), engine_config()['mxnet']['OMP_NUM_THREADS'])"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()
    threads, cores, recorded = out
    assert threads == (given or cores) == recorded
