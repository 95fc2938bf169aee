"""One error family, its exit codes in one table, and messages that speak of parameters, not flags."""

from __future__ import annotations

import re

import pytest

from sshconv.errors import EXIT_CODES, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_WORKER, UsageError, param

from .conftest import ROOT, assert_one_line_error, run_cli

pytestmark = pytest.mark.quick


def test_every_exit_code_is_in_the_table_and_in_the_docs():
    assert {0, 1, 2, 3, 4, EXIT_WORKER, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED} == set(EXIT_CODES)
    assert EXIT_WORKER == 5
    assert (EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_TERMINATED) == (70, 130, 143)
    table = (ROOT / "docs" / "exit-codes.md").read_text()
    documented = {int(c) for c in re.findall(r"^\| (\d+) ", table, re.M)}
    assert documented == set(EXIT_CODES)


def test_a_library_error_names_its_parameter_and_the_cli_its_flag(tmp_path):
    from sshconv import download_model, load_model_spec

    with pytest.raises(UsageError) as info:
        download_model(load_model_spec(), tmp_path / "o", cache_dir=tmp_path / "c", retries=-1)
    assert "`retries`" in str(info.value) and "--" not in str(info.value)
    assert_one_line_error(run_cli("download", "--output-dir", tmp_path / "o", "--retries", "-1"), 2, "--retries must be >= 0")


def test_rendering_replaces_only_marked_parameters():
    err = UsageError(f"pass {param('from_file')}; the path {{from_file}} and --x stay as written")
    assert str(err) == "pass `from_file`; the path {from_file} and --x stay as written"
    assert err.render({"from_file": "--from-file"}) == "pass --from-file; the path {from_file} and --x stay as written"
    assert UsageError("two\nlines").render() == "two lines", "one line, always"


def test_a_bug_is_exit_70_with_a_one_line_internal_error(monkeypatch):
    """Anything but an SshconvError is a bug: exit 70, one line asking for a report, the traceback only with -v."""

    def broken(*args):
        raise RuntimeError("something sshconv did not expect")

    monkeypatch.setattr("sshconv.info.describe", broken)
    res = run_cli("info")
    assert_one_line_error(res, EXIT_INTERNAL, "internal error: RuntimeError: something sshconv did not expect", "-v")
    with pytest.raises(RuntimeError):
        run_cli("info", "-v")
