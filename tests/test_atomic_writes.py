"""Nothing half-written, even when a signal lands between creating a temporary file and knowing its name, and no
temporary file of a writer killed with SIGKILL outlives the next successful write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

import pytest

from sshconv import fsutil


class _Term(KeyboardInterrupt):
    pass


def test_sigterm_just_as_the_temporary_file_is_created_leaves_nothing(tmp_path, monkeypatch):
    """The signal arrives right after mkstemp made the file, before its name is known: it is held until the cleanup
    can see the file, then raised as the CLI raises it, and the file is gone."""

    def on_term(signum, frame):
        raise _Term()

    previous = signal.signal(signal.SIGTERM, on_term)
    real = tempfile.mkstemp

    def mkstemp_then_term(*a, **kw):
        made = real(*a, **kw)
        os.kill(os.getpid(), signal.SIGTERM)  # lands here, before mkstemp even returns its name
        return made

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_term)
    try:
        with pytest.raises(_Term):
            fsutil.atomic_write_text(tmp_path / "report.json", "{}")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert list(tmp_path.iterdir()) == [], "no temporary file, no report"


def test_a_killed_writers_temporary_files_go_with_the_next_successful_write(tmp_path):
    target = tmp_path / "manifest.json"
    code = (
        "import os, sys\n"
        "from sshconv.fsutil import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and not target.exists(), "kill -9 leaves its temporary file (nothing can run on SIGKILL)"
    mine = fsutil.temp_path_for(target)  # a writer still running: its file is not touched
    fsutil.atomic_write_text(target, "whole")
    assert target.read_text() == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, mine.name])
    mine.unlink()
