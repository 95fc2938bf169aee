"""The house rules that a reviewer would otherwise check by hand: they fail when the layout decays."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys

import pytest

from sshconv.cli import build_parser

from .conftest import ROOT

pytestmark = pytest.mark.quick

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


#: The floors of the house, lowest first: a module imports only from its own floor or below. The shared
#: helpers are the ground floor; model facts, then detection (anchors, decoding, NMS, matching, photos) that
#: every stage uses to find faces; then the stages in pipeline order; the commands' layer on top.
FLOORS = (
    ("errors", "events", "fsutil", "versions", "extras", "places", "html", "locking"),
    ("model",),
    ("detection",),
    ("dataset",),
    ("synthetic",),
    ("download",),
    ("runtimes",),
    ("conversion",),
    ("engines",),
    ("verification",),
    ("deploy",),
    ("evaluation",),
    ("release",),
    ("info", "demo"),
    ("cli",),
    ("__main__", "__init__"),
)


def _floor_of(part: str) -> int:
    return next(i for i, names in enumerate(FLOORS) if part in names)


def _imports(path):
    """The sshconv sub-packages or top modules that ``path`` imports (relative imports resolved)."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = rel[:-1] if path.name != "__init__.py" else rel[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = base + (node.module.split(".") if node.module else [])
                names = [] if node.module else [a.name for a in node.names]
            elif (node.module or "").startswith("sshconv"):
                target, names = node.module.split(".")[1:], []
            else:
                continue
            found.update([target[0]] if target else names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("sshconv.") and "." in a.name)
    return found - {"__version__"}


def test_every_part_of_the_package_stands_on_a_floor():
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())}
    placed = {n for names in FLOORS for n in names}
    assert parts == placed, f"place these on a floor of FLOORS: {parts - placed}; gone: {placed - parts}"


def test_imports_only_go_down_the_floors():
    """model, dataset, download, conversion and runtimes import nothing from verification, deploy, evaluation, cli or the
    demo; every sub-package imports only from floors below its own (the shared helpers of the ground floor excepted)."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        for part in _imports(path):
            if part == own:
                continue
            mine, theirs = _floor_of(own), _floor_of(part)
            if theirs > mine or (theirs == mine and mine != 0):
                wrong.append(f"{path.relative_to(ROOT)} imports sshconv.{part} (floor {theirs} over its own {mine})")
    assert not wrong, "\n".join(wrong)


def test_the_floor_test_catches_an_import_that_goes_up(tmp_path, monkeypatch):
    """The rule above fails on a module that reaches up (a stand-in written to a copy of the tree)."""
    copy = tmp_path / "sshconv"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "model" / "up.py").write_text("from ..verification.core import verify\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", copy)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match="model/up.py imports sshconv.verification"):
        test_imports_only_go_down_the_floors()


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
