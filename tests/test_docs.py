"""The documentation cannot drift from the code: every `sshconv …` command line in README and docs/ parses with the
real parser, the command reference is what the parser generates, every public name is in the API reference, the
Python examples run as written (each marked so; any other says why not), and the site builds with warnings as errors
(broken links, missing pages)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from sshconv.cli import build_parser
from sshconv.cli.reference import REFERENCE_PAGE, REGENERATE, render_reference

from .conftest import ROOT, needs_conversion_stack

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(<!--[^\n]*-->\n)?```(\w*)\n(.*?)```", re.S)
NOT_RUN = re.compile(r"<!-- not run: \S.*-->")
RUN = "<!-- run by tests/test_docs.py -->\n"
PYTHON_API = ROOT / "docs" / "python-api.md"
#: The Python examples these tests run, in the order they run in one folder (by page), on which stack.
CONVERSION_EXAMPLES = ("docs/python-api.md", "docs/commands/download.md", "docs/commands/convert.md")
RUNTIME_EXAMPLES = ("docs/guides/faces.md",)


def _blocks(lang: tuple[str, ...]):
    for page in PAGES:
        for note, kind, body in BLOCK.findall(page.read_text()):
            if kind in lang:
                yield page, note, body


def _command_lines() -> list[str]:
    lines = []
    for _, _, body in _blocks(("", "bash", "sh")):
        for line in body.splitlines():
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("sshconv ") and "…" not in part:
                    lines.append(part)
    return lines


@pytest.mark.quick
def test_the_docs_have_command_examples_and_readme_stays_short():
    assert len(_command_lines()) > 80
    assert (ROOT / "README.md").stat().st_size <= 12 * 1024


@pytest.mark.quick
@pytest.mark.parametrize("line", _command_lines())
def test_every_command_line_of_the_docs_parses(line):
    argv = shlex.split(line, comments=True)[1:]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as exc:  # --help, --version
            assert exc.code == 0, line
            return
    assert hasattr(args, "func"), line
    assert "deprecated" not in err.getvalue(), f"the docs use an old spelling: {line}"


@pytest.mark.quick
def test_the_command_reference_is_what_the_parser_generates():
    committed = (ROOT / REFERENCE_PAGE).read_text(encoding="utf-8")
    assert committed == render_reference(), f"{REFERENCE_PAGE} is out of date: run `{REGENERATE}` and commit it"


@pytest.mark.quick
def test_the_reference_fails_when_a_help_text_changes():
    """The comparison above can fail: one flag's help text edited in the parser changes the page."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices["verify"]
    next(a for a in sub._actions if "--reference" in a.option_strings).help = "something else"
    assert render_reference(parser) != (ROOT / REFERENCE_PAGE).read_text(encoding="utf-8")


@pytest.mark.quick
def test_every_public_name_is_in_the_api_reference():
    import sshconv

    page = PYTHON_API.read_text()
    missing = [f"{module}.{name}" for name, module in sshconv._LAZY.items() if f"::: {module}.{name}\n" not in page]
    assert not missing, f"docs/python-api.md has no `::: NAME` for {missing}"


@pytest.mark.quick
def test_every_python_example_is_run_or_says_why_not():
    marks = [(page.relative_to(ROOT).as_posix(), note) for page, note, _ in _blocks(("python",))]
    unmarked = [page for page, note in marks if note != RUN and not NOT_RUN.match(note)]
    assert not unmarked, f"a Python example marked neither `{RUN.strip()}` nor `<!-- not run: why -->`: {unmarked}"
    run = {page for page, note in marks if note == RUN}
    assert run == set(CONVERSION_EXAMPLES) | set(RUNTIME_EXAMPLES), "the examples marked as run are the ones run here"


def _examples(page: str) -> list[str]:
    return [body for p, note, body in _blocks(("python",)) if p == ROOT / page and note == RUN]


@pytest.mark.quick
def test_readmes_links_lead_to_pages_that_exist():
    links = re.findall(r"\]\(([^)#\s]+)\)", (ROOT / "README.md").read_text())
    assert links and all((ROOT / link).is_file() for link in links if "://" not in link), links


@pytest.mark.slow
@needs_conversion_stack
def test_the_python_examples_run_as_written(synth_dir, tmp_path):
    """In a fresh folder with what the text before them says to make (the synthetic checkpoint and 4 photos): the
    Python API example, then download's and convert's, each a script of its own."""
    from sshconv.dataset.photos import make_photos

    shutil.copytree(synth_dir, tmp_path / "synthetic")
    make_photos(tmp_path / "photos", count=4, seed=5)
    outs = []
    for page in CONVERSION_EXAMPLES:
        (tmp_path / "example.py").write_text(_examples(page)[0])
        res = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, f"{page}: {res.stderr[-3000:]}"
        outs.append(res.stdout.strip().splitlines())
    api, download, convert = outs
    assert api[-2].startswith("True"), api[-5:]
    assert "'mxnet':" in api[-1] and "'ir/mo/FP32':" in api[-1]
    assert download[-1].split()[0] in ("existing", "cache") or download[-1].startswith("from-file:"), download[-1]
    assert convert[-1].startswith("['ir/native/FP32', 'ir/native/FP16']") and convert[-1].endswith("['native']")


@pytest.mark.neutral
def test_the_faces_guides_examples_run_as_written(faces_dir, tmp_path):
    """Model API's and ONNX Runtime's examples, each in a folder where ``converted`` is a conversion with faces
    artifacts and ``frame.jpg`` a photo with faces; each must find them."""
    pytest.importorskip("model_api", reason="the modelapi extra: the runtime stack")
    pytest.importorskip("onnxruntime", reason="the onnxruntime extra: the runtime stack")
    from sshconv.dataset.photos import make_photos

    make_photos(tmp_path / "photos", count=1, seed=5)
    shutil.copyfile(next((tmp_path / "photos").rglob("*.jpg")), tmp_path / "frame.jpg")
    (tmp_path / "converted").symlink_to(faces_dir)
    found = ("assert len(result.bboxes) >= 1, result", "assert len(faces) >= 1, faces")
    for code, check in zip(_examples(RUNTIME_EXAMPLES[0]), found):
        (tmp_path / "example.py").write_text(code + check + "\n")
        res = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.neutral
def test_the_site_builds_with_warnings_as_errors(tmp_path):
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("the docs extra is not installed (pip install -e '.[docs]')")
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").is_file()
