"""The house rules that a reviewer would otherwise check by hand: they fail when the layout decays."""

from __future__ import annotations

import ast
import subprocess
import sys

from sshconv.cli import build_parser

from .conftest import ROOT

PACKAGE = ROOT / "sshconv"
MAX_LINES = 450


def _library_modules():
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.relative_to(PACKAGE).parts]


def _cli_flags() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {f for p in sub.choices.values() for a in p._actions for f in a.option_strings if f.startswith("--")}


def _strings(path):
    """Every string constant of a module except docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and ast.get_docstring(node):
            docstrings.add(id(node.body[0].value))
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_the_pipeline_is_the_folder_layout():
    for stage in ("model", "download", "conversion", "runtimes", "verification", "deploy", "cli"):
        assert (PACKAGE / stage / "__init__.py").is_file(), stage


def test_no_module_over_450_lines():
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules: {long}"


def test_the_library_never_names_a_cli_flag():
    flags = _cli_flags() - {"--help"}
    found = []
    for path in _library_modules():
        for text in _strings(path):
            for flag in flags:
                i = text.find(flag)
                after = text[i + len(flag) : i + len(flag) + 1]
                if i >= 0 and not (after.isalnum() or after in ("-", "_")):
                    found.append(f"{path.relative_to(ROOT)}: {text[:60]!r} names {flag}")
    assert not found, "\n".join(found)


def test_only_the_manifest_module_spells_the_manifest_file_name():
    spelled = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if '"manifest.json"' in p.read_text()]
    assert spelled == ["sshconv/conversion/manifest.py"]


def test_the_stage_api_is_importable_from_the_top_without_heavy_frameworks():
    code = (
        "import sys\n"
        "from sshconv import load_model_spec, download_model, convert, verify, detect, read_manifest, VerifyOptions\n"
        "assert all(callable(f) for f in (load_model_spec, download_model, convert, verify, detect, read_manifest))\n"
        "print(','.join(m for m in ('mxnet', 'openvino', 'onnx', 'onnxruntime', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"imported before any call: {out.stdout}"
    res = subprocess.run([sys.executable, "-c", "import sshconv; sshconv.nothing_here"], capture_output=True, text=True)
    assert res.returncode != 0 and "has no attribute 'nothing_here'" in res.stderr


def test_the_constraints_file_pins_what_the_convert_extra_pins():
    """README's install commands pass constraints-convert.txt: it must say what pyproject.toml's convert extra says,
    and pin the int8 extra's NNCF to one release within its range (the one made for OpenVINO 2023.3), and the ray
    extra's Ray to the release that resolves beside those pins."""
    tomllib = __import__("pytest").importorskip("tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pins = {r.split(";")[0].strip().replace("[mxnet,onnx]", "") for r in extras["convert"]}
    constraints = {
        ln.strip() for ln in (ROOT / "constraints-convert.txt").read_text().splitlines() if ln.strip() and not ln.startswith("#")
    }
    assert constraints - pins == {"nncf==2.8.1", "ray==2.60.0"} and pins <= constraints
    assert extras["int8"] == ["nncf>=2.8"] and extras["ray"] == ["ray>=2.9"]
